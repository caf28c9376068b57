"""Faster R-CNN 2fc with deformable ConvNets (paper section 3, figure 3; original ``resnet_v1_101_rcnn_dcn``).

ResNet-v1 with a stride-16 dilated conv5 (deformable last n blocks), the RPN on
conv4 (res4, stride 16), the 256-d ``conv_new_1`` 1x1 reduction of conv5, and
the 2fc head on its (deformable) RoI-pooled 7x7 bins. The RPN, targets,
losses and inference are ``dcn.detection``'s.
"""
from __future__ import annotations

from dcn.detection.detector import TwoStageDetector
from dcn.modeling.backbones.resnet_v1 import ResNetV1, ResNetV1Spec

from .head import FasterRCNNHead
from .spec import FasterRCNNSpec


class FasterRCNN(TwoStageDetector):
    """``forward(data) -> (conv_new_1 feature, RPN logits, deltas, anchors)``; ``head_forward(feature, rois)``."""

    def __init__(self, spec: FasterRCNNSpec, **kwargs):
        spec.validate()
        if spec.fpn:
            raise ValueError("FasterRCNN builds the single-map network; use fpn.pyramid_net.FPN for spec.fpn")
        super().__init__(spec, **kwargs)
        with self.name_scope():
            self.backbone = ResNetV1(ResNetV1Spec(
                depth=spec.depth, num_deformable_layers=spec.num_deformable_layers,
                deformable_groups=spec.deformable_groups, offset_dilation=spec.offset_dilation,
                res5_dilation=spec.dilation,
                reduce_channels=spec.width(spec.reduce_channels), out_stages=("res4", "res5"),
                width_divisor=spec.width_divisor, norm=spec.norm))
            self._add_rpn(spec.num_anchors, 2, spec.width(spec.rpn_channels), spec.feat_stride)
            self.head = FasterRCNNHead(spec)
