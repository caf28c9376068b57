"""Training losses of one image for any ``dcn.detection.detector`` network.

RPN: softmax cross-entropy over the 256 sampled anchors (normalised by the
valid count) + smooth-L1 (sigma 3) / RPN_BATCH_SIZE. RoI head (R-FCN, Faster
R-CNN, FPN): softmax cross-entropy (valid-normalised) + smooth-L1 (sigma 1) /
number of RoIs, where with OHEM the RoIs are all proposals and only the
BATCH_ROIS_OHEM hardest by current loss are kept. Class-specific box outputs
(R, 4 (C+1)) are trained on the ground-truth class's 4 columns. The
class-aware RPN trains its (C+1)-way anchor classifier alone.

End-to-end (the original's joint training) the RoIs are the RPN's proposals;
with ``batch["proposals"]`` (R, 4) (precomputed, the paper's VOC ablation
protocol) only the head is trained on those.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd

from .rpn import propose
from .targets import AnchorTargetParams, ProposalTargetParams, anchor_targets, ohem_select, proposal_targets

RPN_SIGMA = 3.0
RCNN_SIGMA = 1.0


@dataclass
class TrainParams:
    proposal: ProposalTargetParams
    anchor: AnchorTargetParams = field(default_factory=AnchorTargetParams)
    rpn_pre_nms_top_n: int = 6000
    rpn_post_nms_top_n: int = 300
    rpn_nms_thresh: float = 0.7
    rpn_min_size: float = 0
    ohem: bool = False
    batch_rois_ohem: int = 128
    rpn_only: bool = False  # the RPN's loss alone (TRAIN.RPN_ONLY)


def cross_entropy(logits: mx.nd.NDArray, labels: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
    """Per-row softmax cross-entropy (0 where label is -1) and the valid mask."""
    valid = labels >= 0
    logp = mx.nd.log_softmax(logits, axis=-1)
    nll = -mx.nd.pick(logp, mx.nd.maximum(labels, 0), axis=-1)
    return nll * valid, valid


def smooth_l1(pred: mx.nd.NDArray, target: mx.nd.NDArray, weight: mx.nd.NDArray, sigma: float) -> mx.nd.NDArray:
    """Per-row weighted smooth-L1 (the original's ``weight * smooth_l1(pred - target, sigma)``)."""
    return (weight * mx.nd.smooth_l1(pred - target, scalar=sigma)).sum(axis=-1)


def pick_class_boxes(bbox_pred: mx.nd.NDArray, labels: mx.nd.NDArray) -> mx.nd.NDArray:
    """Class-specific box outputs (R, 4 K) -> the (R, 4) of each row's label (label < 0 reads class 0);
    class-agnostic (R, 4) outputs are returned as they are."""
    if bbox_pred.shape[1] == 4:
        return bbox_pred
    boxes = bbox_pred.reshape((0, -1, 4))
    index = mx.nd.maximum(labels, 0).reshape((-1, 1)).broadcast_to((boxes.shape[0], 4))
    return mx.nd.pick(boxes, index, axis=1)


def _accuracy(logits: mx.nd.NDArray, labels: mx.nd.NDArray, valid: mx.nd.NDArray) -> mx.nd.NDArray:
    hit = (logits.argmax(axis=-1) == labels) * valid
    return hit.sum() / mx.nd.maximum(valid.sum(), 1)


def rpn_loss(logits: mx.nd.NDArray, deltas: mx.nd.NDArray, anchors: mx.nd.NDArray, gt_boxes: np.ndarray,
             gt_labels: np.ndarray, im_info: mx.nd.NDArray, params: AnchorTargetParams, class_aware: bool = False,
             rng: Optional[np.random.Generator] = None) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    """RPN loss of one image (logits (1, N, K), deltas (1, N, 4), anchors (1, N, 4)) and its metrics."""
    ctx = logits.context
    height, width = (float(v) for v in im_info[0, :2].asnumpy())
    labels, targets, weights = anchor_targets(anchors[0].asnumpy(), gt_boxes, gt_labels, height, width,
                                              params, class_aware, rng)
    labels_nd = mx.nd.array(labels, ctx=ctx)
    nll, valid = cross_entropy(logits[0], labels_nd)
    rpn_cls = nll.sum() / mx.nd.maximum(valid.sum(), 1)
    rpn_box = smooth_l1(deltas[0], mx.nd.array(targets, ctx=ctx), mx.nd.array(weights, ctx=ctx),
                        RPN_SIGMA).sum() / params.batch_size
    metrics = {"RPNAcc": _accuracy(logits[0], labels_nd, valid), "RPNLogLoss": rpn_cls, "RPNL1Loss": rpn_box}
    return rpn_cls + rpn_box, metrics


def rcnn_loss(cls_score: mx.nd.NDArray, bbox_pred: mx.nd.NDArray, labels: np.ndarray, targets: np.ndarray,
              weights: np.ndarray, params: TrainParams) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    """Head loss of sampled RoIs (labels (S,), box targets/weights (S, 4) from ``proposal_targets``),
    with OHEM when ``params.ohem``."""
    ctx = cls_score.context
    targets_nd = mx.nd.array(targets, ctx=ctx)
    norm = len(labels)
    if params.ohem:
        with autograd.pause():  # BoxAnnotatorOHEM: rank RoIs by their current loss
            labels_all = mx.nd.array(labels, ctx=ctx)
            roi_loss = (cross_entropy(cls_score, labels_all)[0]
                        + smooth_l1(pick_class_boxes(bbox_pred, labels_all), targets_nd,
                                    mx.nd.array(weights, ctx=ctx), RCNN_SIGMA))
        labels, weights = ohem_select(roi_loss.asnumpy(), params.batch_rois_ohem, labels, weights)
        norm = params.batch_rois_ohem
    labels_nd = mx.nd.array(labels, ctx=ctx)
    nll, valid = cross_entropy(cls_score, labels_nd)
    rcnn_cls = nll.sum() / mx.nd.maximum(valid.sum(), 1)
    rcnn_box = smooth_l1(pick_class_boxes(bbox_pred, labels_nd), targets_nd, mx.nd.array(weights, ctx=ctx),
                         RCNN_SIGMA).sum() / max(norm, 1)
    metrics = {"RCNNAcc": _accuracy(cls_score, labels_nd, valid), "RCNNLogLoss": rcnn_cls,
               "RCNNL1Loss": rcnn_box}
    return rcnn_cls + rcnn_box, metrics


def detector_loss(net, batch: Dict[str, mx.nd.NDArray], params: TrainParams, rng: np.random.Generator
                  ) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    """Total loss and named parts for one image ``{data (1,3,H,W), im_info (1,3), gt_boxes (1,K,5)
    [, proposals (1, P, 4) or (P, 4)]}`` and a ``dcn.detection.detector`` network.

    Call inside ``autograd.record()``.
    """
    ctx = batch["data"].context
    feat, logits, deltas, anchors = net(batch["data"])
    gt = batch["gt_boxes"][0].asnumpy().reshape(-1, 5)
    gt_boxes, gt_labels = gt[:, :4], gt[:, 4].astype(np.int32)
    fixed = batch.get("proposals")
    if fixed is not None:  # precomputed proposals: the head alone
        rois = fixed.asnumpy().reshape(-1, 4)
        loss, metrics = 0, {}
    else:
        class_aware = getattr(net.spec, "class_aware_rpn", False)
        loss, metrics = rpn_loss(logits, deltas, anchors, gt_boxes, gt_labels, batch["im_info"], params.anchor,
                                 class_aware, rng)
        if class_aware or params.rpn_only:
            return loss, metrics
        with autograd.pause():
            fg = 1 - mx.nd.softmax(logits, axis=-1)[:, :, 0]
            rois, _ = propose(anchors, fg, deltas, batch["im_info"], params.rpn_pre_nms_top_n,
                              params.rpn_post_nms_top_n, params.rpn_nms_thresh, params.rpn_min_size)
        rois = rois.asnumpy()
    rois, labels, targets, weights = proposal_targets(rois, gt_boxes, gt_labels, params.proposal, rng)
    cls_score, bbox_pred = net.head_forward(feat, mx.nd.array(rois, ctx=ctx))
    head_loss, head_metrics = rcnn_loss(cls_score, bbox_pred, labels, targets, weights, params)
    metrics.update(head_metrics)
    return loss + head_loss, metrics
