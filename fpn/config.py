"""From the typed experiment config (``dcn.config``) to the Faster R-CNN / FPN network.

``symbol`` picks the network as the original file names do: a symbol with
``fpn`` builds :class:`~fpn.pyramid_net.FPN`, any other (``*_rcnn[_dcn]``)
:class:`~fpn.rcnn.FasterRCNN` (``fpn.recipe`` registers both with the core); a ``w<n>`` token divides every width by n
(default 4 for ``dataset: synthetic``). Deformable layers, dilation, deformable
RoI pooling (``network.deformable_psroi``) and the pyramid's deformable
res3/res4 (``network.deformable_pyramid``) come from ``network.*``; training and
test parameters from ``dcn.detection.params``.
"""
from __future__ import annotations

from typing import Union

from dcn.config import Config
from dcn.config.symbol import width_divisor
from dcn.modeling.roi_heads import PLAIN_ROI_POOLING
from dcn.modeling.scratch_init import PIXEL_STD

from .pyramid_net import FPN
from .rcnn import FasterRCNN
from .spec import FPN_STRIDES, FasterRCNNSpec

Detector = Union[FasterRCNN, FPN]


def is_fpn(cfg: Config) -> bool:
    return "fpn" in cfg.symbol.lower()


def model_spec(cfg: Config) -> FasterRCNNSpec:
    net = cfg.network
    fpn = is_fpn(cfg)
    if net.plain_roi_pooling not in PLAIN_ROI_POOLING:
        raise ValueError(f"network.plain_roi_pooling: Faster R-CNN/FPN pool with one of {PLAIN_ROI_POOLING} (max = "
                         f"the original's ROIPooling); got {net.plain_roi_pooling!r} (average is R-FCN's)")
    if fpn:
        if list(net.RPN_FEAT_STRIDE) != list(FPN_STRIDES):
            raise ValueError(f"network.RPN_FEAT_STRIDE: FPN's RPN runs on P2-P6, strides {list(FPN_STRIDES)}; "
                             f"got {net.RPN_FEAT_STRIDE}")
        if net.dilation != 1:
            raise ValueError(f"network.dilation: FPN uses the plain stride-32 conv5 (1), got {net.dilation}")
    else:
        if net.RPN_FEAT_STRIDE != [16] or net.RCNN_FEAT_STRIDE != 16:
            raise ValueError(f"network.RPN_FEAT_STRIDE / RCNN_FEAT_STRIDE: Faster R-CNN runs on one stride-16 map; "
                             f"got {net.RPN_FEAT_STRIDE} / {net.RCNN_FEAT_STRIDE}")
        if net.dilation < 2:
            raise ValueError("network.dilation: Faster R-CNN needs a dilated conv5 (>= 2) for its stride-16 head")
        if net.deformable_pyramid:
            raise ValueError("network.deformable_pyramid is an FPN option (symbol *_fpn_*)")
    return FasterRCNNSpec(
        num_classes=cfg.dataset.NUM_CLASSES, depth=net.depth, width_divisor=width_divisor(cfg), norm=net.norm,
        num_deformable_layers=net.num_deformable_layers, deformable_groups=net.deformable_groups,
        offset_dilation=net.offset_dilation, dilation=net.dilation, deformable_roi_pooling=net.deformable_psroi,
        plain_roi_pooling=net.plain_roi_pooling,
        fpn=fpn, deformable_pyramid=fpn and net.deformable_pyramid, class_agnostic=cfg.CLASS_AGNOSTIC,
        anchor_scales=tuple(net.ANCHOR_SCALES), anchor_ratios=tuple(net.ANCHOR_RATIOS),
        # a scratch net sees unit-scale input; pretrained (Caffe) weights expect raw pixel scale
        input_scale=1.0 if net.pretrained else 1.0 / PIXEL_STD)


def make_net(spec: FasterRCNNSpec) -> Detector:
    return FPN(spec) if spec.fpn else FasterRCNN(spec)
