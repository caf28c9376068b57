"""End-to-end training losses of one image (the original's joint training).

RPN: softmax cross-entropy over the 256 sampled anchors (normalised by the
valid count) + smooth-L1 (sigma 3) / RPN_BATCH_SIZE. R-FCN: softmax
cross-entropy (valid-normalised) + smooth-L1 (sigma 1) / number of RoIs, where
with OHEM the RoIs are all proposals and only the BATCH_ROIS_OHEM hardest by
current loss are kept. The class-aware RPN trains its (C+1)-way anchor
classifier alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd

from .model import RFCN
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


def cross_entropy(logits: mx.nd.NDArray, labels: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
    """Per-row softmax cross-entropy (0 where label is -1) and the valid mask."""
    valid = labels >= 0
    logp = mx.nd.log_softmax(logits, axis=-1)
    nll = -mx.nd.pick(logp, mx.nd.maximum(labels, 0), axis=-1)
    return nll * valid, valid


def smooth_l1(pred: mx.nd.NDArray, target: mx.nd.NDArray, weight: mx.nd.NDArray, sigma: float) -> mx.nd.NDArray:
    """Per-row weighted smooth-L1 (the original's ``weight * smooth_l1(pred - target, sigma)``)."""
    return (weight * mx.nd.smooth_l1(pred - target, scalar=sigma)).sum(axis=-1)


def _accuracy(logits: mx.nd.NDArray, labels: mx.nd.NDArray, valid: mx.nd.NDArray) -> mx.nd.NDArray:
    hit = (logits.argmax(axis=-1) == labels) * valid
    return hit.sum() / mx.nd.maximum(valid.sum(), 1)


def detector_loss(net: RFCN, batch: Dict[str, mx.nd.NDArray], params: TrainParams, rng: np.random.Generator
                  ) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    """Total loss and named parts for one image ``{data (1,3,H,W), im_info (1,3), gt_boxes (1,K,5)}``.

    Call inside ``autograd.record()``.
    """
    ctx = batch["data"].context
    feat, logits, deltas, anchors = net(batch["data"])
    gt = batch["gt_boxes"][0].asnumpy().reshape(-1, 5)
    gt_boxes, gt_labels = gt[:, :4], gt[:, 4].astype(np.int32)
    height, width = (float(v) for v in batch["im_info"][0, :2].asnumpy())
    class_aware = net.spec.class_aware_rpn

    labels, targets, weights = anchor_targets(anchors[0].asnumpy(), gt_boxes, gt_labels, height, width,
                                              params.anchor, class_aware)
    labels_nd = mx.nd.array(labels, ctx=ctx)
    nll, valid = cross_entropy(logits[0], labels_nd)
    rpn_cls = nll.sum() / mx.nd.maximum(valid.sum(), 1)
    rpn_box = smooth_l1(deltas[0], mx.nd.array(targets, ctx=ctx), mx.nd.array(weights, ctx=ctx),
                        RPN_SIGMA).sum() / params.anchor.batch_size
    metrics = {"RPNAcc": _accuracy(logits[0], labels_nd, valid), "RPNLogLoss": rpn_cls, "RPNL1Loss": rpn_box}
    if class_aware:
        return rpn_cls + rpn_box, metrics

    with autograd.pause():
        fg = 1 - mx.nd.softmax(logits, axis=-1)[:, :, 0]
        rois, _ = propose(anchors, fg, deltas, batch["im_info"], params.rpn_pre_nms_top_n,
                          params.rpn_post_nms_top_n, params.rpn_nms_thresh, params.rpn_min_size)
    rois, labels, targets, weights = proposal_targets(rois.asnumpy(), gt_boxes, gt_labels, params.proposal, rng)
    cls_score, bbox_pred = net.head_forward(feat, mx.nd.array(rois, ctx=ctx))
    targets_nd = mx.nd.array(targets, ctx=ctx)
    norm = len(labels)
    if params.ohem:
        with autograd.pause():  # BoxAnnotatorOHEM: rank RoIs by their current loss
            roi_loss = (cross_entropy(cls_score, mx.nd.array(labels, ctx=ctx))[0]
                        + smooth_l1(bbox_pred, targets_nd, mx.nd.array(weights, ctx=ctx), RCNN_SIGMA))
        labels, weights = ohem_select(roi_loss.asnumpy(), params.batch_rois_ohem, labels, weights)
        norm = params.batch_rois_ohem
    labels_nd = mx.nd.array(labels, ctx=ctx)
    nll, valid = cross_entropy(cls_score, labels_nd)
    rcnn_cls = nll.sum() / mx.nd.maximum(valid.sum(), 1)
    rcnn_box = smooth_l1(bbox_pred, targets_nd, mx.nd.array(weights, ctx=ctx), RCNN_SIGMA).sum() / max(norm, 1)
    metrics.update({"RCNNAcc": _accuracy(cls_score, labels_nd, valid), "RCNNLogLoss": rcnn_cls,
                    "RCNNL1Loss": rcnn_box})
    return rpn_cls + rpn_box + rcnn_cls + rcnn_box, metrics
