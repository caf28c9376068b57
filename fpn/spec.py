"""The network description shared by Faster R-CNN (2fc) and FPN."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dcn.modeling.backbones.resnet_v1 import DEPTHS
from dcn.modeling.roi_heads import PLAIN_ROI_POOLING

FPN_STRIDES = (4, 8, 16, 32, 64)  # P2..P6 (P6 for the RPN only)


@dataclass(frozen=True)
class FasterRCNNSpec:
    num_classes: int                      # including background (VOC 21, COCO 81)
    depth: int = 101
    width_divisor: int = 1                # >1 shrinks every width (CPU-sized experiments)
    norm: str = "frozen_bn"                # backbone normalisation (dcn.modeling.norm)
    num_deformable_layers: int = 3        # last n 3x3 convs deformable (paper Table 1 rows; FPN: 3 = res5a-c)
    deformable_groups: int = 4
    offset_dilation: int = 0              # offset convs' dilation (0 = the deformable conv's)
    dilation: int = 2                     # res5 atrous rate (Faster R-CNN: 2, stride 16; FPN: 1, stride 32)
    deformable_roi_pooling: bool = True   # paper figure 3 (offset fc, lr_mult 0.01, trans_std 0.1)
    plain_roi_pooling: str = "bilinear"   # without offsets: "bilinear" (our op, no_trans) or "max" (ROIPooling)
    fpn: bool = False                     # P2-P6 pyramid, RoIs pooled from their level
    deformable_pyramid: bool = False      # FPN: res3b3 and res4b22 (last block of res3/res4) deformable too
    class_agnostic: bool = False          # boxes (R, 4) instead of (R, 4 * num_classes)
    anchor_scales: Sequence[float] = (8, 16, 32)
    anchor_ratios: Sequence[float] = (0.5, 1, 2)
    feat_stride: int = 16                 # RPN and RoI pooling stride (Faster R-CNN)
    rpn_channels: int = 512
    reduce_channels: int = 256            # conv_new_1 after conv5 (Faster R-CNN); FPN: pyramid channels
    pooled_size: int = 7
    fc_hidden: int = 1024
    input_scale: float = 1.0              # multiplies the (mean-subtracted) image; 1/PIXEL_STD for scratch nets

    def validate(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background + 1), got {self.num_classes}")
        if self.depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {self.depth}")
        if self.plain_roi_pooling not in PLAIN_ROI_POOLING:
            raise ValueError(f"plain_roi_pooling must be one of {PLAIN_ROI_POOLING}, got {self.plain_roi_pooling!r}")
        if self.fpn and self.dilation != 1:
            raise ValueError(f"FPN needs the plain stride-32 conv5 (dilation 1), got dilation={self.dilation}")
        if not self.fpn and self.deformable_pyramid:
            raise ValueError("deformable_pyramid (res3/res4 deformable) is an FPN option")
        if not self.fpn and self.feat_stride != 16:
            raise ValueError(f"Faster R-CNN runs its RPN and RoI pooling at stride 16, got {self.feat_stride}")

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_scales) * len(self.anchor_ratios)

    @property
    def box_outputs(self) -> int:
        return 4 if self.class_agnostic else 4 * self.num_classes

    def width(self, channels: int) -> int:
        return max(channels // self.width_divisor, 16)
