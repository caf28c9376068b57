"""Well-conditioned start for a ResNet-v1 backbone trained from scratch (no pretrained weights).

The backbone's BatchNorm layers use fixed statistics (``use_global_stats``, as
the Caffe-converted original), so nothing normalises a randomly initialised
net and activations grow ~15x through ResNet-18. Start it well conditioned:
each block's last BN gamma is 0, so every residual block starts as the
identity (Goyal et al. 2017), and the network multiplies its (mean-subtracted,
raw pixel scale) input by a fixed ``1 / PIXEL_STD``. The scale is a constant,
not the stem BN's gamma: a trainable gamma of 1/58 is moved by SGD steps
far larger than itself, and training diverges.
"""
from __future__ import annotations

from typing import Any, Tuple

import mxnet as mx
from mxnet import gluon

from .backbones.resnet_v1 import ResNetV1

PIXEL_STD = 58.0  # typical per-channel std of 0..255 natural-image pixels (ImageNet ~ 57-59)
PROBE_SHAPE = (1, 3, 64, 64)  # the image of the shape-resolving forward


def initialize_and_probe(net: gluon.Block, ctx=None) -> Tuple[mx.Context, Any]:
    """MSRA init of every parameter without its own initialiser, then one forward of a zero image, run
    imperatively: the extension ops cannot infer a deferred weight's shape inside a cached graph.
    Returns the context of the probe and the network's output."""
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2), ctx=ctx)
    ctx = ctx[0] if isinstance(ctx, (list, tuple)) else (ctx or mx.current_context())
    return ctx, net(mx.nd.zeros(PROBE_SHAPE, ctx=ctx))


def zero_last_bn_gammas(backbone: ResNetV1) -> None:
    """Every residual block of an initialised backbone starts as the identity."""
    for stage in backbone.stages:
        for block in stage:
            last = block.bn2c if hasattr(block, "bn2c") else block.bn2b
            last.gamma.set_data(mx.nd.zeros(last.gamma.shape))
