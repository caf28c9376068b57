"""Collects the offset maps of every deformable layer of a network during a forward pass."""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet.gluon import Block

from operators.blocks import DeformableConv2D, ModulatedDeformableConv2D

from .sampling import DeformLayer


def deformable_layers(net: Block) -> list[tuple[str, DeformableConv2D]]:
    """All deformable conv blocks of `net`, in registration (= forward) order."""
    found = []

    def visit(block: Block, path: str) -> None:
        if isinstance(block, (DeformableConv2D, ModulatedDeformableConv2D)):
            found.append((block.prefix.rstrip("_") or path, block))
            return
        for name, child in block._children.items():
            visit(child, f"{path}.{name}" if path else name)

    visit(net, "")
    return found


def collect_offsets(net: Block, x: mx.nd.NDArray, image_index: int = 0) -> list[DeformLayer]:
    """Runs `net(x)` imperatively and returns one DeformLayer per deformable conv,
    bottom-up, holding the offsets of image `image_index`."""
    layers = deformable_layers(net)
    if not layers:
        raise ValueError("the network has no deformable convolution layers")
    captured: dict[int, np.ndarray] = {}
    handles = []
    for idx, (_, block) in enumerate(layers):
        def hook(_blk, _inputs, output, idx=idx, block=block):
            out = output.asnumpy()[image_index]
            if isinstance(block, ModulatedDeformableConv2D):
                out = out[:block._n_offset]
            captured[idx] = out
        handles.append(block.offset.register_forward_hook(hook))
    hybrid = getattr(net, "_active", False)
    try:
        if hybrid:
            net.hybridize(False)
        net(x)
    finally:
        for h in handles:
            h.detach()
        if hybrid:
            net.hybridize(True)
    result = []
    for idx, (name, block) in enumerate(layers):
        kw = block._kwargs
        result.append(DeformLayer(captured[idx], kernel=tuple(kw["kernel"]), stride=tuple(kw["stride"]),
                                  dilate=tuple(kw["dilate"]), pad=tuple(kw["pad"]), name=name))
    return result
