"""A network's hybridizable part, traced for export over the network's own blocks.

A network writes each graph it can be split into once, as a method taking ``F``
(``mx.nd`` or ``mx.sym``): its ``forward`` runs the method on NDArrays, and
:class:`HybridPart` lets ``dcn.export`` trace the same method into
``-symbol.json``, so the exported graph cannot drift from the network.
"""
from __future__ import annotations

from mxnet.gluon import Block, HybridBlock


class HybridPart(HybridBlock):
    """``net.<method>(F, *inputs)`` as a HybridBlock sharing ``net``'s parameters (no copies)."""

    def __init__(self, net: Block, method: str):
        super().__init__(prefix="")
        object.__setattr__(self, "_net", net)  # not a child: the net itself may be a (non-hybrid) Block
        self._method = method
        for name, child in net._children.items():  # its hybrid parts: their parameters are the graph's
            if isinstance(child, HybridBlock):
                self.register_child(child, name)

    def hybrid_forward(self, F, *inputs):
        return getattr(self._net, self._method)(F, *inputs)
