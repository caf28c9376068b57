"""The Faster R-CNN 2fc head: (deformable) RoI pooling of one map, fc_new_1/fc_new_2 (1024), cls_score and
bbox_pred; and the class/box output layers FPN's pyramid head shares."""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from dcn.modeling.roi_heads import DeformableRoIPoolingHead

from .spec import FasterRCNNSpec


class DetectionOutputs(HybridBlock):
    """``(R, hidden) -> (cls_score (R, C+1), bbox_pred (R, 4) or (R, 4 (C+1)))``; the original's init
    (normal 0.01 and 0.001)."""

    def __init__(self, num_classes: int, box_outputs: int, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        with self.name_scope():
            self.cls_score = nn.Dense(num_classes, weight_initializer=mx.init.Normal(0.01), prefix="cls_score_")
            self.bbox_pred = nn.Dense(box_outputs, weight_initializer=mx.init.Normal(0.001), prefix="bbox_pred_")

    def hybrid_forward(self, F, x):
        return self.cls_score(x), self.bbox_pred(x)


class FasterRCNNHead(HybridBlock):
    """``(feature (1, C, H, W) after conv_new_1, rois (R, 5)) -> (cls_score, bbox_pred)``."""

    def __init__(self, spec: FasterRCNNSpec, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = DeformableRoIPoolingHead(
                spec.width(spec.reduce_channels), spec.pooled_size, 1.0 / spec.feat_stride,
                fc_hidden=spec.width(spec.fc_hidden), deformable=spec.deformable_roi_pooling,
                plain_op=spec.plain_roi_pooling)
            self.outputs = DetectionOutputs(spec.num_classes, spec.box_outputs)

    def hybrid_forward(self, F, feature, rois):
        return self.outputs(self.features(feature, rois))
