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


def _hybridized_blocks(block: Block) -> list[Block]:
    """The outermost hybridized blocks in `block` (itself, or children of a plain Block such as R-FCN)."""
    if getattr(block, "_active", False):
        return [block]
    return [b for child in block._children.values() for b in _hybridized_blocks(child)]


def collect_offsets(net: Block, x: mx.nd.NDArray, image_index: int = 0) -> list[DeformLayer]:
    """Runs `net(x)` imperatively and returns one DeformLayer per deformable conv,
    bottom-up, holding the offsets of image `image_index`."""
    layers = deformable_layers(net)
    if not layers:
        raise ValueError("the network has no deformable convolution layers")
    captured: dict[int, np.ndarray] = {}
    in_shapes: dict[int, tuple[int, int]] = {}
    handles = []
    for idx, (_, block) in enumerate(layers):
        def hook(_blk, inputs, output, idx=idx, block=block):
            in_shapes[idx] = tuple(inputs[0].shape[2:])  # the offset conv sees the deformable conv's input
            out = output.asnumpy()[image_index]
            if isinstance(block, ModulatedDeformableConv2D):
                out = out[:block._n_offset]
            captured[idx] = out
        handles.append(block.offset.register_forward_hook(hook))
    # hooks fire only in imperative mode: switch off every hybridized (sub)network for this pass
    hybrid = _hybridized_blocks(net)
    try:
        for blk in hybrid:
            blk.hybridize(False)
        net(x)
    finally:
        for h in handles:
            h.detach()
        for blk in hybrid:
            blk.hybridize(True)
    result = []
    for idx, (name, block) in enumerate(layers):
        kw = block._kwargs
        result.append(DeformLayer(captured[idx], kernel=tuple(kw["kernel"]), stride=tuple(kw["stride"]),
                                  dilate=tuple(kw["dilate"]), pad=tuple(kw["pad"]), name=name,
                                  input_shape=in_shapes[idx]))
    return result
