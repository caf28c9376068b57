"""From the typed experiment config (``dcn.config``) to the training and test parameters of
``dcn.detection`` (shared by every detector: R-FCN, Faster R-CNN, FPN)."""
from __future__ import annotations

from dcn.config import Config

from .inference import DetectParams
from .loss import TrainParams
from .targets import AnchorTargetParams, ProposalTargetParams



def train_params(cfg: Config) -> TrainParams:
    t = cfg.TRAIN
    if t.BATCH_IMAGES != 1:
        raise ValueError(f"the detectors train one image per device (TRAIN.BATCH_IMAGES: 1), as the original; "
                         f"got TRAIN.BATCH_IMAGES={t.BATCH_IMAGES}")
    if not t.ENABLE_OHEM and t.BATCH_ROIS < 0:
        raise ValueError("TRAIN.BATCH_ROIS = -1 (all RoIs) needs TRAIN.ENABLE_OHEM")
    return TrainParams(
        proposal=ProposalTargetParams(num_classes=cfg.dataset.NUM_CLASSES, batch_rois=t.BATCH_ROIS,
                                      fg_fraction=t.FG_FRACTION, fg_thresh=t.FG_THRESH,
                                      bg_thresh_hi=t.BG_THRESH_HI, bg_thresh_lo=t.BG_THRESH_LO,
                                      bbox_means=tuple(t.BBOX_MEANS), bbox_stds=tuple(t.BBOX_STDS)),
        anchor=AnchorTargetParams(batch_size=t.RPN_BATCH_SIZE, fg_fraction=t.RPN_FG_FRACTION,
                                  positive_overlap=t.RPN_POSITIVE_OVERLAP, negative_overlap=t.RPN_NEGATIVE_OVERLAP,
                                  clobber_positives=t.RPN_CLOBBER_POSITIVES),
        rpn_pre_nms_top_n=t.RPN_PRE_NMS_TOP_N, rpn_post_nms_top_n=t.RPN_POST_NMS_TOP_N,
        rpn_nms_thresh=t.RPN_NMS_THRESH, rpn_min_size=t.RPN_MIN_SIZE, ohem=t.ENABLE_OHEM,
        batch_rois_ohem=t.BATCH_ROIS_OHEM, rpn_only=t.RPN_ONLY)


def detect_params(cfg: Config) -> DetectParams:
    t = cfg.TEST
    return DetectParams(rpn_pre_nms_top_n=t.RPN_PRE_NMS_TOP_N, rpn_post_nms_top_n=t.RPN_POST_NMS_TOP_N,
                        rpn_nms_thresh=t.RPN_NMS_THRESH, rpn_min_size=t.RPN_MIN_SIZE, nms=t.NMS,
                        score_thresh=t.SCORE_THRESH, max_per_image=t.max_per_image,
                        bbox_means=tuple(cfg.TRAIN.BBOX_MEANS), bbox_stds=tuple(cfg.TRAIN.BBOX_STDS),
                        use_softnms=t.USE_SOFTNMS, softnms_method=t.SOFTNMS_METHOD,
                        softnms_sigma=t.SOFTNMS_THRESH, bbox_averaging=t.BBOX_AVERAGING,
                        bbox_averaging_thresh=t.BBOX_AVERAGING_THRESH)
