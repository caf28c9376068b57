"""The two-stage detector protocol shared by R-FCN, Faster R-CNN (2fc) and FPN.

A detector is a Gluon ``Block`` (its parts are HybridBlocks; target sampling
and proposal selection run imperatively between them, one image per device
as in the original) with

* ``spec``: a frozen dataclass with at least ``num_classes`` and ``input_scale``
  (``class_aware_rpn`` optional, default False);
* ``forward(data (1, 3, H, W))`` -> ``(head feature(s), RPN logits (1, N, K),
  RPN deltas (1, N, 4), anchors (1, N, 4))``; the head feature is whatever
  ``head_forward`` takes (one map, or FPN's tuple of levels; None without a head);
* ``head_forward(feature, rois (R, 4))`` -> ``(cls_score (R, C+1),
  bbox_pred (R, 4) class-agnostic or (R, 4 (C+1)) class-specific)``.

:class:`TwoStageDetector` implements it for a backbone returning (RPN map,
head map), an :class:`~dcn.detection.rpn.RPNHead` and a head block called as
``head(feature, rois (R, 5))``; FPN overrides ``forward``/``head_forward`` for
its pyramid.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import mxnet as mx
from mxnet.gluon import Block, HybridBlock

from dcn.modeling.parts import HybridPart
from dcn.modeling.scratch_init import initialize_and_probe, zero_last_bn_gammas

from .rpn import RPNHead, make_anchor_generator


MAX_IMAGE_SIDE = 2048  # anchors are precomputed for feature maps of images up to this size
# export: graph name -> (block, its input names, file prefix)
Graphs = Dict[str, Tuple[HybridBlock, List[str], str]]


def anchor_alloc_size(stride: int) -> Tuple[int, int]:
    side = -(-MAX_IMAGE_SIDE // stride)
    return side, side


def with_batch_index(rois: mx.nd.NDArray) -> mx.nd.NDArray:
    """RoIs (R, 4) of image 0 -> (R, 5) ``[0, x1, y1, x2, y2]`` rows for the pooling operators."""
    return mx.nd.concat(mx.nd.zeros((rois.shape[0], 1), ctx=rois.context, dtype=rois.dtype), rois, dim=1)


class TwoStageDetector(Block):
    """Backbone -> (RPN map, head map); RPN on the first, ``head`` on the second.

    Subclasses create ``self.backbone`` (a ResNetV1 returning both maps, or only
    the RPN map when ``head`` is None), then call :meth:`_add_rpn` and set
    ``self.head``.
    """

    backbone: HybridBlock
    head: Optional[Block]

    def __init__(self, spec, **kwargs):
        super().__init__(prefix="", **kwargs)
        self.spec = spec

    def _add_rpn(self, num_anchors: int, rpn_classes: int, channels: int, feat_stride: int) -> None:
        self.rpn = RPNHead(num_anchors, rpn_classes, channels)
        self.anchor_generator = make_anchor_generator(feat_stride, self.spec.anchor_scales, self.spec.anchor_ratios,
                                                      anchor_alloc_size(feat_stride))

    def initialize_weights(self, ctx=None, scratch: bool = True) -> None:
        """MSRA init for the backbone; the heads carry their own initialisers (normal 0.01, zero offsets).

        ``scratch`` (no pretrained backbone to load): every residual block starts
        as the identity (``dcn.modeling.scratch_init``); with
        ``spec.input_scale = 1 / PIXEL_STD`` the input is also unit-sized.
        """
        ctx, (feat, _, _, _) = initialize_and_probe(self, ctx)
        if self.head is not None:
            self.head_forward(feat, mx.nd.array([[0, 0, 31, 31]], ctx=ctx))
        if scratch:
            zero_last_bn_gammas(self.backbone)

    def hybridize(self, active: bool = True, **kwargs) -> None:
        # The extension ops work in cached graphs too; the head stays imperative because
        # its RoI count changes every image (a new graph each time).
        self.backbone.hybridize(active, **kwargs)
        self.rpn.hybridize(active, **kwargs)

    def scaled_input(self, data: mx.nd.NDArray) -> mx.nd.NDArray:
        return data * self.spec.input_scale if self.spec.input_scale != 1.0 else data

    def body_outputs(self, F, data):
        """The hybridizable body, on NDArrays (``forward``) or Symbols (export): backbone, RPN, anchors."""
        feats = self.backbone(self.scaled_input(data))
        rpn_in, feat = (feats, None) if self.head is None else feats
        logits, deltas = self.rpn(rpn_in)
        anchors = self.anchor_generator(rpn_in)
        return feat, logits, deltas, anchors

    def forward(self, data: mx.nd.NDArray) -> Tuple[Optional[mx.nd.NDArray], mx.nd.NDArray, mx.nd.NDArray,
                                                    mx.nd.NDArray]:
        """``data`` (1, 3, H, W) -> (head feature (None without a head), RPN logits (1, N, K),
        RPN deltas (1, N, 4), anchors (1, N, 4))."""
        return self.body_outputs(mx.nd, data)

    def export_graphs(self, prefix: str) -> Graphs:
        """``<prefix>_body`` (``data`` -> head feature (if any), RPN logits, deltas, anchors) and
        ``<prefix>_head`` (``feat``, ``rois`` (R, 5) -> cls_score, bbox_pred): the proposals between them run
        imperatively (NMS, a variable RoI count)."""
        graphs: Graphs = {"body": (HybridPart(self, "body_outputs"), ["data"], f"{prefix}_body")}
        if self.head is not None:
            graphs["head"] = (self.head, ["feat", "rois"], f"{prefix}_head")
        return graphs

    def head_forward(self, feat: mx.nd.NDArray, rois: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        """RoIs (R, 4) of image 0 -> (cls_score (R, C+1), bbox_pred)."""
        return self.head(feat, with_batch_index(rois))
