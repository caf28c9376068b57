"""Well-conditioned start for a ResNet-v1 backbone trained from scratch (no pretrained weights).

The backbone's BatchNorm layers use fixed statistics (``use_global_stats``, as
the Caffe-converted original), so nothing normalises a randomly initialised
net: on raw-pixel-scale input (means subtracted, no std division) activations
grow ~15x through ResNet-18. Instead, the stem BN scales the input to unit
size (gamma = 1 / pixel_std) and each block's last BN gamma is 0, so every
residual block starts as the identity (Goyal et al. 2017).
"""
from __future__ import annotations

import mxnet as mx

from .backbones.resnet_v1 import ResNetV1

PIXEL_STD = 58.0  # typical per-channel std of 0..255 natural-image pixels (ImageNet ~ 57-59)


def init_resnet_v1_scratch(backbone: ResNetV1, pixel_std: float = PIXEL_STD) -> None:
    """Set the stem/last-BN gammas of an initialised backbone (shapes must be known)."""
    gamma = backbone.bn_conv1.gamma
    gamma.set_data(mx.nd.full(gamma.shape, 1.0 / pixel_std))
    for stage in backbone.stages:
        for block in stage:
            last = block.bn2c if hasattr(block, "bn2c") else block.bn2b
            last.gamma.set_data(mx.nd.zeros(last.gamma.shape))
