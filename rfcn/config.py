"""From the typed experiment config (``dcn.config``) to the R-FCN pieces.

Two things the shared schema has no key for are read from ``symbol``:
* the mode: a symbol containing ``class_aware_rpn`` builds the class-aware RPN
  (e.g. ``--set symbol=resnet_v1_18_class_aware_rpn_dcn``), anything else R-FCN;
* a width divisor token ``w<n>`` (``resnet_v1_18_w4_rfcn_dcn``); without one,
  the synthetic dataset gets 4 (a CPU-sized net) and real datasets 1.
The backbone's deformable layers, dilation and deformable PS RoI pooling come
from ``network.*`` as for every task.
"""
from __future__ import annotations

from dcn.config import Config
from dcn.config.symbol import width_divisor
from dcn.modeling.roi_heads import PLAIN_PSROI_POOLING
from dcn.modeling.scratch_init import PIXEL_STD

from .model import RFCNSpec

__all__ = ["is_class_aware_rpn", "model_spec"]


def is_class_aware_rpn(cfg: Config) -> bool:
    return "class_aware_rpn" in cfg.symbol


def model_spec(cfg: Config) -> RFCNSpec:
    net = cfg.network
    if net.RPN_FEAT_STRIDE != [net.RCNN_FEAT_STRIDE] or net.RCNN_FEAT_STRIDE != 16:
        raise ValueError(f"R-FCN runs on one stride-16 map; got RPN_FEAT_STRIDE={net.RPN_FEAT_STRIDE}, "
                         f"RCNN_FEAT_STRIDE={net.RCNN_FEAT_STRIDE}")
    if net.dilation < 2:
        raise ValueError("R-FCN needs a dilated conv5 (network.dilation >= 2) for its stride-16 head")
    if net.plain_roi_pooling not in PLAIN_PSROI_POOLING:
        raise ValueError(f"network.plain_roi_pooling: R-FCN pools position-sensitively, one of "
                         f"{PLAIN_PSROI_POOLING} (average = the original's PSROIPooling); got {net.plain_roi_pooling!r}")
    if not cfg.CLASS_AGNOSTIC:
        raise ValueError("this R-FCN regresses class-agnostic boxes (the original's 7*7*8 maps); "
                         "set CLASS_AGNOSTIC: true")
    return RFCNSpec(num_classes=cfg.dataset.NUM_CLASSES, depth=net.depth, width_divisor=width_divisor(cfg),
                    norm=net.norm,
                    num_deformable_layers=net.num_deformable_layers, deformable_groups=net.deformable_groups,
                    offset_dilation=net.offset_dilation, dilation=net.dilation,
                    deformable_psroi=net.deformable_psroi, group_size=net.psroi_group_size,
                    plain_pooling=net.plain_roi_pooling,
                    class_aware_rpn=is_class_aware_rpn(cfg), anchor_scales=tuple(net.ANCHOR_SCALES),
                    anchor_ratios=tuple(net.ANCHOR_RATIOS), feat_stride=net.RCNN_FEAT_STRIDE,
                    # a scratch net sees unit-scale input; pretrained (Caffe) weights expect raw pixel scale
                    input_scale=1.0 if net.pretrained else 1.0 / PIXEL_STD)
