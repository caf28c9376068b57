"""From the typed experiment config (``dcn.config``) to the DeepLab pieces.

The schema has no width key, so (as for R-FCN) a width divisor token ``w<n>``
in ``symbol`` shrinks the net (``dcn.config.symbol``); without one
the synthetic dataset gets 4 (a CPU-sized net) and real datasets 1. Depth,
deformable layers, offset groups and the conv5 dilation come from ``network.*``.
"""
from __future__ import annotations

from typing import Dict

from dcn.config import Config
from dcn.config.symbol import width_divisor
from dcn.modeling.scratch_init import PIXEL_STD

from .model import DeepLabSpec

# the original's lr multipliers: biases of fc6 and of the offset convs learn twice as fast
# (the upsampling deconvolution is fixed: grad_req='null')
LR_MULT: Dict[str, float] = {r"^fc6_bias$": 2.0, r"_offset_bias$": 2.0}


def model_spec(cfg: Config) -> DeepLabSpec:
    net = cfg.network
    return DeepLabSpec(num_classes=cfg.dataset.NUM_CLASSES, depth=net.depth, width_divisor=width_divisor(cfg),
                       norm=net.norm,
                       num_deformable_layers=net.num_deformable_layers, deformable_groups=net.deformable_groups,
                       dilation=net.dilation, offset_dilation=net.offset_dilation or DeepLabSpec.offset_dilation,
                       # a scratch net sees unit-scale input; pretrained (Caffe) weights expect raw pixel scale
                       input_scale=1.0 if net.pretrained else 1.0 / PIXEL_STD)


def check_train_config(cfg: Config) -> None:
    """What this DeepLab does not support, named before any work is done."""
    if cfg.TRAIN.BATCH_IMAGES != 1:
        raise ValueError("DeepLab trains one image per device (TRAIN.BATCH_IMAGES: 1), as the original")
    if cfg.TEST.BATCH_IMAGES != 1:
        raise ValueError("DeepLab tests one image at a time (TEST.BATCH_IMAGES: 1)")
