"""From the typed experiment config (``dcn.config``) to the R-FCN pieces.

Two things the shared schema has no key for are read from ``symbol``:
* the mode: a symbol containing ``class_aware_rpn`` builds the class-aware RPN
  (e.g. ``--set symbol=resnet_v1_18_class_aware_rpn_dcn``), anything else R-FCN;
* a width divisor token ``w<n>`` (``resnet_v1_18_w4_rfcn_dcn``); without one,
  the synthetic dataset gets 4 (a CPU-sized net) and real datasets 1.
The backbone's deformable layers, dilation and deformable PS RoI pooling come
from ``network.*`` as for every task.
"""
from __future__ import annotations

import re

from dcn.config import Config

from .inference import DetectParams
from .loss import TrainParams
from .model import PIXEL_STD, RFCNSpec
from .targets import AnchorTargetParams, ProposalTargetParams

SYNTHETIC_WIDTH_DIVISOR = 4


def is_class_aware_rpn(cfg: Config) -> bool:
    return "class_aware_rpn" in cfg.symbol


def width_divisor(cfg: Config) -> int:
    m = re.search(r"(?:^|_)w(\d+)(?:_|$)", cfg.symbol)
    if m:
        return int(m.group(1))
    return SYNTHETIC_WIDTH_DIVISOR if cfg.dataset.dataset == "synthetic" else 1


def model_spec(cfg: Config) -> RFCNSpec:
    net = cfg.network
    if net.RPN_FEAT_STRIDE != [net.RCNN_FEAT_STRIDE] or net.RCNN_FEAT_STRIDE != 16:
        raise ValueError(f"R-FCN runs on one stride-16 map; got RPN_FEAT_STRIDE={net.RPN_FEAT_STRIDE}, "
                         f"RCNN_FEAT_STRIDE={net.RCNN_FEAT_STRIDE}")
    if net.dilation < 2:
        raise ValueError("R-FCN needs a dilated conv5 (network.dilation >= 2) for its stride-16 head")
    if not cfg.CLASS_AGNOSTIC:
        raise ValueError("this R-FCN regresses class-agnostic boxes (the original's 7*7*8 maps); "
                         "set CLASS_AGNOSTIC: true")
    return RFCNSpec(num_classes=cfg.dataset.NUM_CLASSES, depth=net.depth, width_divisor=width_divisor(cfg),
                    num_deformable_layers=net.num_deformable_layers, deformable_groups=net.deformable_groups,
                    dilation=net.dilation, deformable_psroi=net.deformable_psroi,
                    class_aware_rpn=is_class_aware_rpn(cfg), anchor_scales=tuple(net.ANCHOR_SCALES),
                    anchor_ratios=tuple(net.ANCHOR_RATIOS), feat_stride=net.RCNN_FEAT_STRIDE,
                    # a scratch net sees unit-scale input; pretrained (Caffe) weights expect raw pixel scale
                    input_scale=1.0 if net.pretrained else 1.0 / PIXEL_STD)


def train_params(cfg: Config) -> TrainParams:
    t = cfg.TRAIN
    if t.BATCH_IMAGES != 1:
        raise ValueError("R-FCN trains one image per device (TRAIN.BATCH_IMAGES: 1), as the original")
    if not t.ENABLE_OHEM and t.BATCH_ROIS < 0:
        raise ValueError("TRAIN.BATCH_ROIS = -1 (all RoIs) needs TRAIN.ENABLE_OHEM")
    return TrainParams(
        proposal=ProposalTargetParams(num_classes=cfg.dataset.NUM_CLASSES, batch_rois=t.BATCH_ROIS,
                                      fg_fraction=t.FG_FRACTION, fg_thresh=t.FG_THRESH,
                                      bg_thresh_hi=t.BG_THRESH_HI, bg_thresh_lo=t.BG_THRESH_LO,
                                      bbox_means=tuple(t.BBOX_MEANS), bbox_stds=tuple(t.BBOX_STDS)),
        anchor=AnchorTargetParams(batch_size=t.RPN_BATCH_SIZE, fg_fraction=t.RPN_FG_FRACTION,
                                  positive_overlap=t.RPN_POSITIVE_OVERLAP, negative_overlap=t.RPN_NEGATIVE_OVERLAP),
        rpn_pre_nms_top_n=t.RPN_PRE_NMS_TOP_N, rpn_post_nms_top_n=t.RPN_POST_NMS_TOP_N,
        rpn_nms_thresh=t.RPN_NMS_THRESH, rpn_min_size=t.RPN_MIN_SIZE, ohem=t.ENABLE_OHEM,
        batch_rois_ohem=t.BATCH_ROIS_OHEM)


def detect_params(cfg: Config) -> DetectParams:
    t = cfg.TEST
    return DetectParams(rpn_pre_nms_top_n=t.RPN_PRE_NMS_TOP_N, rpn_post_nms_top_n=t.RPN_POST_NMS_TOP_N,
                      rpn_nms_thresh=t.RPN_NMS_THRESH, rpn_min_size=t.RPN_MIN_SIZE, nms=t.NMS,
                      score_thresh=t.SCORE_THRESH, max_per_image=t.max_per_image,
                      bbox_means=tuple(cfg.TRAIN.BBOX_MEANS), bbox_stds=tuple(cfg.TRAIN.BBOX_STDS))
