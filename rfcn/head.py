"""R-FCN head: position-sensitive score maps and (deformable) PS RoI pooling, then voting.

Paper figure 4 / original ``resnet_v1_101_rfcn_dcn``: from the 1024-channel
reduced conv5 feature, ``rfcn_cls`` (k*k*(C+1) maps, per-class part offsets)
and ``rfcn_bbox`` (k*k*8 maps, class-agnostic: background and object boxes as
in the original, one shared offset field) are pooled by
``dcn.modeling.roi_heads.DeformablePSROIHead`` (our ``DeformablePSROIPooling``;
trans_std 0.1, zero-initialised offsets) into k x k bins and averaged.

Plain PS RoI pooling (``deformable=False``) is the same operator with
``no_trans`` (bilinear samples per bin; ``plain_op='bilinear'``) or, as the
original R-FCN, MXNet's integer-bin ``PSROIPooling`` (``plain_op='average'``,
config ``network.plain_roi_pooling: average``).
"""
from __future__ import annotations

from mxnet.gluon import HybridBlock

from dcn.modeling.roi_heads import DeformablePSROIHead

BOX_CLASSES = 2  # class-agnostic boxes: one background + one object slot, as the original's 7*7*8 maps


class RFCNHead(HybridBlock):
    """``(feature (1, C_in, H, W), rois (R, 5)) -> (cls_score (R, num_classes), bbox_pred (R, 4))``.

    ``rois`` rows are [batch index, x1, y1, x2, y2] in input-image pixels.
    """

    def __init__(self, num_classes: int, group_size: int = 7, deformable: bool = True,
                 spatial_scale: float = 1.0 / 16, sample_per_part: int = 4, trans_std: float = 0.1,
                 plain_op: str = "bilinear", **kwargs):
        kwargs.setdefault("prefix", "")  # the original symbol's parameter names
        super().__init__(**kwargs)
        common = dict(group_size=group_size, spatial_scale=spatial_scale, sample_per_part=sample_per_part,
                      trans_std=trans_std, deformable=deformable, plain_op=plain_op)
        with self.name_scope():
            self.cls = DeformablePSROIHead(num_classes, num_classes, prefix="rfcn_cls_", **common)
            self.bbox = DeformablePSROIHead(4 * BOX_CLASSES, 1, prefix="rfcn_bbox_", **common)

    def hybrid_forward(self, F, feat, rois):
        cls_score = F.mean(self.cls(feat, rois), axis=(2, 3))  # vote
        box = F.mean(self.bbox(feat, rois), axis=(2, 3)).reshape((0, BOX_CLASSES, 4))
        bbox_pred = F.slice_axis(box, axis=1, begin=1, end=2).reshape((0, 4))  # the object slot
        return cls_score, bbox_pred
