"""R-FCN head: position-sensitive score maps and (deformable) PS RoI pooling.

Paper figure 4 / original ``resnet_v1_101_rfcn_dcn``: from the 1024-channel
reduced conv5 feature, ``rfcn_cls`` (k*k*(C+1) maps) and ``rfcn_bbox``
(k*k*8 maps, class-agnostic: background and object boxes as in the original)
are PS-pooled into k x k bins and voted (averaged). With deformable PS RoI
pooling, 1x1 convs ``rfcn_cls_offset_t`` (2*k*k*(C+1)) / ``rfcn_bbox_offset_t``
(2*k*k) are PS-pooled without offsets into normalised part offsets (per class
for the score maps, shared for the box maps), scaled by ``trans_std`` = 0.1
(the paper's gamma) and the RoI size inside the operator. Offset convs start
at zero, so the head starts as plain PS RoI pooling.

Plain PS RoI pooling uses the same operator with ``no_trans`` (bilinear
samples per bin, rather than the original's integer-bin ``PSROIPooling``).
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

import operators

BOX_CLASSES = 2  # class-agnostic boxes: one background + one object slot, as the original's 7*7*8 maps


class RFCNHead(HybridBlock):
    """``(feature (1, C_in, H, W), rois (R, 5)) -> (cls_score (R, num_classes), bbox_pred (R, 4))``.

    ``rois`` rows are [batch index, x1, y1, x2, y2] in input-image pixels.
    """

    def __init__(self, num_classes: int, group_size: int = 7, deformable: bool = True,
                 spatial_scale: float = 1.0 / 16, sample_per_part: int = 4, trans_std: float = 0.1, **kwargs):
        kwargs.setdefault("prefix", "")  # the original symbol's parameter names
        super().__init__(**kwargs)
        operators.load()
        self.num_classes, self.deformable = num_classes, deformable
        k2 = group_size * group_size
        self._pool = dict(spatial_scale=spatial_scale, group_size=group_size, pooled_size=group_size,
                          part_size=group_size, sample_per_part=sample_per_part)
        self._trans_std = trans_std
        init = mx.init.Normal(0.01)
        with self.name_scope():
            self.cls = nn.Conv2D(k2 * num_classes, 1, weight_initializer=init, prefix="rfcn_cls_")
            self.bbox = nn.Conv2D(k2 * 4 * BOX_CLASSES, 1, weight_initializer=init, prefix="rfcn_bbox_")
            if deformable:
                self.cls_offset = nn.Conv2D(2 * k2 * num_classes, 1, weight_initializer="zeros",
                                            prefix="rfcn_cls_offset_t_")
                self.bbox_offset = nn.Conv2D(2 * k2, 1, weight_initializer="zeros", prefix="rfcn_bbox_offset_t_")

    def _ps_pool(self, F, maps, rois, offset_maps, output_dim: int, num_offset_classes: int):
        if offset_maps is None:
            return F.DeformablePSROIPooling(maps, rois, no_trans=True, output_dim=output_dim, **self._pool)
        trans = F.DeformablePSROIPooling(offset_maps, rois, no_trans=True, output_dim=2 * num_offset_classes,
                                         **self._pool)
        return F.DeformablePSROIPooling(maps, rois, trans, trans_std=self._trans_std, output_dim=output_dim,
                                        **self._pool)

    def hybrid_forward(self, F, feat, rois):
        cls_off = self.cls_offset(feat) if self.deformable else None
        box_off = self.bbox_offset(feat) if self.deformable else None
        cls = self._ps_pool(F, self.cls(feat), rois, cls_off, self.num_classes, self.num_classes)
        box = self._ps_pool(F, self.bbox(feat), rois, box_off, 4 * BOX_CLASSES, 1)
        cls_score = F.mean(cls, axis=(2, 3))  # vote
        box = F.mean(box, axis=(2, 3)).reshape((0, BOX_CLASSES, 4))
        bbox_pred = F.slice_axis(box, axis=1, begin=1, end=2).reshape((0, 4))  # the object slot
        return cls_score, bbox_pred
