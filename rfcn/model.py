"""The detector network: ResNet-v1 backbone, RPN on conv4, R-FCN head on conv5.

``RFCN`` is a Gluon ``Block`` whose parts are HybridBlocks; the steps between
them that sample targets or select proposals (``dcn.detection``)
run imperatively, one image at a time (the original's 1 image per device).

``class_aware_rpn=True`` builds the paper's class-aware RPN instead: a
(C+1)-way anchor classifier that is a one-stage (SSD-like) detector by itself;
there is then no R-FCN head. Its classifier sits on conv5 (stride 16 through
the dilated res5), since the paper's Table 1 shows it gaining from deformable
res5 layers; the 1x1 reduction is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dcn.detection.detector import TwoStageDetector
from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec

from .head import RFCNHead

__all__ = ["RFCN", "RFCNSpec"]


@dataclass(frozen=True)
class RFCNSpec:
    num_classes: int                      # including background (VOC 21, COCO 81)
    depth: int = 101
    width_divisor: int = 1                # >1 shrinks every width (CPU-sized experiments)
    norm: str = "frozen_bn"                # backbone normalisation (dcn.modeling.norm)
    num_deformable_layers: int = 3        # 0/1/2/3/6 deformable 3x3 convs (paper Table 1)
    deformable_groups: int = 4
    offset_dilation: int = 0              # offset convs' dilation (0 = the deformable conv's)
    dilation: int = 2                     # conv5 atrous rate (paper Table 3: 2/4/6/8)
    deformable_psroi: bool = True         # deformable PS RoI pooling in the head
    plain_pooling: str = "bilinear"       # without offsets: "bilinear" (our op) or "average" (original PSROIPooling)
    class_aware_rpn: bool = False         # (C+1)-way RPN, no R-FCN head
    anchor_scales: Sequence[float] = (8, 16, 32)
    anchor_ratios: Sequence[float] = (0.5, 1, 2)
    feat_stride: int = 16
    rpn_channels: int = 512
    reduce_channels: int = 1024           # conv_new_1 (paper: "1x1 conv to 1024 channels")
    group_size: int = 7                   # k x k bins
    input_scale: float = 1.0              # multiplies the (mean-subtracted) image; 1/PIXEL_STD for scratch nets

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_scales) * len(self.anchor_ratios)

    @property
    def rpn_classes(self) -> int:
        return self.num_classes if self.class_aware_rpn else 2


class RFCN(TwoStageDetector):
    """R-FCN / class-aware RPN (the ``dcn.detection.detector`` protocol: ``forward``, ``head_forward``)."""

    def __init__(self, spec: RFCNSpec, **kwargs):
        super().__init__(spec, **kwargs)
        div = spec.width_divisor
        with self.name_scope():
            self.backbone = ResNetV1(ResNetV1Spec(
                depth=spec.depth, num_deformable_layers=spec.num_deformable_layers,
                deformable_groups=spec.deformable_groups, offset_dilation=spec.offset_dilation,
                res5_dilation=spec.dilation,
                reduce_channels=0 if spec.class_aware_rpn else max(spec.reduce_channels // div, 16),
                out_stages=("res5",) if spec.class_aware_rpn else ("res4", "res5"), width_divisor=div, norm=spec.norm))
            self._add_rpn(spec.num_anchors, spec.rpn_classes, max(spec.rpn_channels // div, 16), spec.feat_stride)
            self.head = None if spec.class_aware_rpn else RFCNHead(
                spec.num_classes, spec.group_size, spec.deformable_psroi, 1.0 / spec.feat_stride,
                plain_op=spec.plain_pooling)
