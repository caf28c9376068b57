"""Deformable FPN (the original ``resnet_v1_101_fpn_dcn_rcnn``): Faster R-CNN 2fc on a feature pyramid.

ResNet-v1 with a plain stride-32 conv5 (deformable res5a-c, and with
``deformable_pyramid`` res3b3/res4b22), :class:`~dcn.modeling.fpn.FPNNeck` P2-P6,
one RPN shared by the five levels (anchors of ``stride * ANCHOR_SCALES`` per
level), proposals over all levels together (``dcn.detection.rpn.propose``),
RoIs pooled from their level (:class:`~dcn.modeling.fpn.PyramidRoIPool`), and the
2fc head (fc_new_1/fc_new_2, cls_score, bbox_pred).
"""
from __future__ import annotations

from typing import Tuple

import mxnet as mx

from dcn.detection.detector import Graphs, TwoStageDetector, anchor_alloc_size, with_batch_index
from dcn.detection.rpn import RPNHead, make_anchor_generator
from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec
from dcn.modeling.parts import HybridPart
from dcn.modeling.roi_heads import TwoFCHead

from .head import DetectionOutputs
from dcn.modeling.fpn import FPNNeck, PyramidRoIPool
from .spec import FPN_STRIDES, FasterRCNNSpec


class FPN(TwoStageDetector):
    """``forward(data) -> ((P2, P3, P4, P5), RPN logits, deltas, anchors over P2-P6)``; ``head_forward``."""

    def __init__(self, spec: FasterRCNNSpec, **kwargs):
        spec.validate()
        if not spec.fpn:
            raise ValueError("FPN needs spec.fpn = True; use fpn.rcnn.FasterRCNN for the single-map network")
        super().__init__(spec, **kwargs)
        channels = spec.width(spec.reduce_channels)
        with self.name_scope():
            self.backbone = ResNetV1(ResNetV1Spec(
                depth=spec.depth, num_deformable_layers=spec.num_deformable_layers,
                deformable_groups=spec.deformable_groups, offset_dilation=spec.offset_dilation,
                res5_dilation=1,
                out_stages=("res2", "res3", "res4", "res5"), width_divisor=spec.width_divisor,
                deformable_stage_ends=(3, 4) if spec.deformable_pyramid else (), norm=spec.norm))
            self.neck = FPNNeck(channels)
            self.rpn = RPNHead(spec.num_anchors, 2, spec.width(spec.rpn_channels))
            self.anchor_generators = []
            for k, stride in zip(range(2, 7), FPN_STRIDES):
                gen = make_anchor_generator(stride, spec.anchor_scales, spec.anchor_ratios, anchor_alloc_size(stride),
                                            prefix=f"anchors_p{k}_")
                self.register_child(gen, f"anchors_p{k}")
                self.anchor_generators.append(gen)
            self.roi_pool = PyramidRoIPool(channels, FPN_STRIDES[:4], spec.pooled_size,
                                           spec.deformable_roi_pooling, spec.plain_roi_pooling)
            self.fc = TwoFCHead(channels * spec.pooled_size ** 2, spec.width(spec.fc_hidden))
            self.head = DetectionOutputs(spec.num_classes, spec.box_outputs)

    def hybridize(self, active: bool = True, **kwargs) -> None:
        super().hybridize(active, **kwargs)
        self.neck.hybridize(active, **kwargs)

    def body_outputs(self, F, data):
        """The hybridizable body (``forward``, export): P2, P3, P4, P5, then the shared RPN's logits, deltas and
        the anchors over P2-P6, flat (a graph's outputs)."""
        levels = self.neck(*self.backbone(self.scaled_input(data)))
        outs = [self.rpn(p) for p in levels]
        logits = F.concat(*[o[0] for o in outs], dim=1)
        deltas = F.concat(*[o[1] for o in outs], dim=1)
        anchors = F.concat(*[gen(p) for gen, p in zip(self.anchor_generators, levels)], dim=1)
        return tuple(levels[:4]) + (logits, deltas, anchors)

    def forward(self, data: mx.nd.NDArray) -> Tuple[Tuple[mx.nd.NDArray, ...], mx.nd.NDArray, mx.nd.NDArray,
                                                    mx.nd.NDArray]:
        outs = self.body_outputs(mx.nd, data)
        return (tuple(outs[:4]),) + tuple(outs[4:])

    def pooled_head(self, F, pooled):
        """Pooled RoIs (R, C, 7, 7) -> (cls_score, bbox_pred): fc_new_1/fc_new_2 and the outputs (``head_forward``,
        export)."""
        return self.head(self.fc(pooled))

    def head_forward(self, feat: Tuple[mx.nd.NDArray, ...], rois: mx.nd.NDArray
                     ) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        """RoIs (R, 4) of image 0 -> (cls_score (R, C+1), bbox_pred)."""
        return self.pooled_head(mx.nd, self.roi_pool(feat, with_batch_index(rois)))

    def export_graphs(self, prefix: str) -> Graphs:
        """``<prefix>_body`` (``data`` -> P2-P5, RPN logits, deltas, anchors), ``<prefix>_pool_p2`` .. ``_p5``
        (``feat``, ``rois`` (R, 5) -> pooled (R, C, 7, 7), the level's offset fc) and ``<prefix>_head``
        (``pooled`` -> cls_score, bbox_pred); the RoI -> level assignment runs imperatively."""
        graphs: Graphs = {"body": (HybridPart(self, "body_outputs"), ["data"], f"{prefix}_body")}
        for i, pool in enumerate(self.roi_pool.pools):
            k = self.roi_pool.first_level + i
            graphs[f"pool_p{k}"] = (pool, ["feat", "rois"], f"{prefix}_pool_p{k}")
        graphs["head"] = (HybridPart(self, "pooled_head"), ["pooled"], f"{prefix}_head")
        return graphs
