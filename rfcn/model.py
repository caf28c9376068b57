"""The detector network: ResNet-v1 backbone, RPN on conv4, R-FCN head on conv5.

``RFCN`` is a Gluon ``Block`` whose parts are HybridBlocks; the steps between
them that sample targets or select proposals (``rfcn.targets``, ``rfcn.rpn``)
run imperatively, one image at a time (the original's 1 image per device).

``class_aware_rpn=True`` builds the paper's class-aware RPN instead: a
(C+1)-way anchor classifier that is a one-stage (SSD-like) detector by itself;
there is then no R-FCN head. Its classifier sits on conv5 (stride 16 through
the dilated res5), since the paper's Table 1 shows it gaining from deformable
res5 layers; the 1x1 reduction is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import mxnet as mx
from mxnet.gluon import Block

from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec

from .head import RFCNHead
from .rpn import RPNHead, make_anchor_generator

PIXEL_STD = 58.0  # typical per-channel std of 0..255 natural-image pixels (ImageNet ~ 57-59)


@dataclass(frozen=True)
class RFCNSpec:
    num_classes: int                      # including background (VOC 21, COCO 81)
    depth: int = 101
    width_divisor: int = 1                # >1 shrinks every width (CPU-sized experiments)
    num_deformable_layers: int = 3        # 0/1/2/3/6 deformable 3x3 convs (paper Table 1)
    deformable_groups: int = 4
    dilation: int = 2                     # conv5 atrous rate (paper Table 3: 2/4/6/8)
    deformable_psroi: bool = True         # deformable PS RoI pooling in the head
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


class RFCN(Block):
    """R-FCN / class-aware RPN. See :meth:`forward` and :meth:`head_forward`."""

    def __init__(self, spec: RFCNSpec, **kwargs):
        super().__init__(prefix="", **kwargs)
        self.spec = spec
        div = spec.width_divisor
        with self.name_scope():
            self.backbone = ResNetV1(ResNetV1Spec(
                depth=spec.depth, num_deformable_layers=spec.num_deformable_layers,
                deformable_groups=spec.deformable_groups, res5_dilation=spec.dilation,
                reduce_channels=0 if spec.class_aware_rpn else max(spec.reduce_channels // div, 16),
                out_stages=("res5",) if spec.class_aware_rpn else ("res4", "res5"), width_divisor=div))
            self.rpn = RPNHead(spec.num_anchors, spec.rpn_classes, max(spec.rpn_channels // div, 16))
            self.anchor_generator = make_anchor_generator(spec.feat_stride, spec.anchor_scales, spec.anchor_ratios)
            self.head = None if spec.class_aware_rpn else RFCNHead(
                spec.num_classes, spec.group_size, spec.deformable_psroi, 1.0 / spec.feat_stride)

    def initialize_weights(self, ctx=None, scratch: bool = True) -> None:
        """MSRA init for the backbone; the heads carry their own initialisers (normal 0.01, zero offsets).

        ``scratch`` (no pretrained backbone to load): the backbone's BatchNorm
        uses fixed statistics, so nothing normalises a randomly initialised
        net and activations grow ~15x through ResNet-18. Start it well
        conditioned instead: each block's last BN gamma is 0, so every
        residual block starts as the identity (Goyal et al. 2017); with
        ``spec.input_scale = 1 / PIXEL_STD`` the input is also unit-sized.
        """
        self.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2), ctx=ctx)
        # Finish deferred shape inference imperatively: the extension ops cannot infer
        # a deferred weight's shape inside a cached graph.
        ctx = ctx[0] if isinstance(ctx, (list, tuple)) else (ctx or mx.current_context())
        feat, _, _, _ = self(mx.nd.zeros((1, 3, 64, 64), ctx=ctx))
        if self.head is not None:
            self.head_forward(feat, mx.nd.array([[0, 0, 31, 31]], ctx=ctx))
        if scratch:
            for stage in self.backbone.stages:
                for block in stage:
                    last = block.bn2c if hasattr(block, "bn2c") else block.bn2b
                    last.gamma.set_data(mx.nd.zeros(last.gamma.shape))

    def hybridize(self, active: bool = True, **kwargs) -> None:
        # The extension ops work in cached graphs too; the head stays imperative because
        # its RoI count changes every image (a new graph each time).
        self.backbone.hybridize(active, **kwargs)
        self.rpn.hybridize(active, **kwargs)

    def forward(self, data: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray, mx.nd.NDArray, mx.nd.NDArray]:
        """``data`` (1, 3, H, W) -> (R-FCN feature (None for the class-aware RPN), RPN logits (1, N, K), RPN deltas (1, N, 4),
        anchors (1, N, 4))."""
        feats = self.backbone(data * self.spec.input_scale if self.spec.input_scale != 1.0 else data)
        rpn_in, res5 = (feats, None) if self.spec.class_aware_rpn else feats
        logits, deltas = self.rpn(rpn_in)
        anchors = self.anchor_generator(rpn_in)
        return res5, logits, deltas, anchors

    def head_forward(self, feat: mx.nd.NDArray, rois: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        """RoIs (R, 4) of image 0 -> (cls_score (R, C+1), bbox_pred (R, 4))."""
        batch_rois = mx.nd.concat(mx.nd.zeros((rois.shape[0], 1), ctx=rois.context), rois, dim=1)
        return self.head(feat, batch_rois)
