"""Test-time detection of one image -> (K, 6) [class, score, x1, y1, x2, y2].

For any ``dcn.detection.detector`` network. Two-stage heads: RPN proposals
(TEST.RPN_*) or precomputed ones, head scores (softmax) and boxes
(class-agnostic (R, 4) or class-specific (R, 4 (C+1)) deltas, de-normalised by
BBOX_MEANS/STDS); class-aware RPN: every anchor's (C+1)-way scores and its box.
Then per-class NMS (``box_nms`` with class ids, TEST.NMS) or Soft-NMS
(``dcn.detection.soft_nms``, TEST.USE_SOFTNMS), score threshold, at most
``max_per_image`` detections, coordinates divided by the resize scale
(original-image pixels, 0-based inclusive as the datasets' boxes). Classes are
0-based foreground indices (background removed).

Multi-scale testing (:func:`detect_multiscale`): the raw boxes and scores of
every scale, in original-image pixels, are merged before the one NMS, as the
original FPN test.

Iterative box averaging (``bbox_averaging``, TEST.BBOX_AVERAGING; the paper's
Table 5 "B"): the regressed boxes go through the head once more as RoIs, the
candidates of both iterations are merged, and after NMS every kept box is the
score-weighted mean of its class's candidates overlapping it by at least
``bbox_averaging_thresh`` (:mod:`dcn.detection.box_voting`).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd

from .box_voting import vote_boxes
from .rpn import clip_boxes, decode_boxes, propose
from .settings import DetectParams
from .soft_nms import soft_nms


def _per_class(boxes: mx.nd.NDArray, num_rois: int, num_fg: int) -> mx.nd.NDArray:
    """(R, 4) shared or (R, C+1, 4) per-class boxes -> (R, C, 4) foreground boxes."""
    if boxes.ndim == 2:
        return boxes.reshape((num_rois, 1, 4)).broadcast_to((num_rois, num_fg, 4))
    return boxes[:, 1:, :]


def _soft_nms_all(coords: np.ndarray, scores: np.ndarray, params: DetectParams) -> np.ndarray:
    rows = []
    for c in range(scores.shape[1]):
        kept = soft_nms(coords[:, c], scores[:, c], params.softnms_method, params.softnms_sigma, params.nms,
                        params.score_thresh)
        rows.append(np.concatenate([np.full((len(kept), 1), c, np.float32), kept[:, 4:5], kept[:, :4]], axis=1))
    dets = np.concatenate(rows, axis=0) if rows else np.zeros((0, 6), np.float32)
    return dets[np.argsort(-dets[:, 1], kind="stable")]


def postprocess(boxes: mx.nd.NDArray, probs: mx.nd.NDArray, scale: float, params: DetectParams) -> np.ndarray:
    """Boxes (R, 4) (class-agnostic) or (R, C+1, 4) and probabilities (R, C+1) -> detections (K, 6),
    best first, box coordinates divided by ``scale``."""
    num_rois, num_fg = probs.shape[0], probs.shape[1] - 1
    if num_rois == 0 or num_fg == 0:
        return np.zeros((0, 6), np.float32)
    coords = _per_class(boxes, num_rois, num_fg)
    if params.use_softnms:
        dets = _soft_nms_all(coords.asnumpy() / scale, probs[:, 1:].asnumpy(), params)
    else:
        ctx = probs.context
        ids = mx.nd.arange(num_fg, ctx=ctx).reshape((1, num_fg, 1)).broadcast_to((num_rois, num_fg, 1))
        scores = probs[:, 1:].reshape((num_rois, num_fg, 1))
        dets = mx.nd.concat(ids, scores, coords, dim=2).reshape((-1, 6))
        dets = mx.nd.contrib.box_nms(dets, overlap_thresh=params.nms, valid_thresh=params.score_thresh, topk=-1,
                                     coord_start=2, score_index=1, id_index=0, force_suppress=False).asnumpy()
        dets = dets[dets[:, 0] >= 0]  # sorted by score; suppressed rows are -1
        dets[:, 2:6] /= scale
    if params.max_per_image > 0:
        dets = dets[:params.max_per_image]
    if params.bbox_averaging and len(dets):
        dets = vote_boxes(dets, coords.asnumpy() / scale, probs[:, 1:].asnumpy(), params.bbox_averaging_thresh,
                          params.score_thresh)
    return dets.astype(np.float32)


def decode_head_boxes(bbox_pred: mx.nd.NDArray, rois: mx.nd.NDArray, params: DetectParams) -> mx.nd.NDArray:
    """Head deltas (R, 4) or (R, 4 K) on RoIs (R, 4) -> boxes (R, 4) or (R, K, 4), de-normalised."""
    num_rois = rois.shape[0]
    k = bbox_pred.shape[1] // 4
    means = mx.nd.array(np.asarray(params.bbox_means, np.float32) / np.asarray(params.bbox_stds, np.float32),
                        ctx=bbox_pred.context)
    deltas = bbox_pred.reshape((num_rois, k, 4)) + means
    anchors = rois.reshape((num_rois, 1, 4)).broadcast_to((num_rois, k, 4))
    boxes = decode_boxes(deltas.reshape((1, -1, 4)), anchors.reshape((1, -1, 4)), params.bbox_stds)
    return boxes.reshape((num_rois, 4)) if k == 1 else boxes.reshape((num_rois, k, 4))


def raw_detections(net, data: mx.nd.NDArray, im_info: mx.nd.NDArray, params: DetectParams,
                   proposals: Optional[mx.nd.NDArray] = None) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
    """Boxes (R, 4) or (R, C+1, 4) in original-image pixels, clipped, and probabilities (R, C+1) of one image.

    ``proposals`` (P, 4): precomputed RoIs in input (resized) pixels instead of the RPN's.
    """
    with autograd.predict_mode():
        feat, logits, deltas, anchors = net(data)
        height, width, scale = (float(v) for v in im_info[0].asnumpy())
        if getattr(net.spec, "class_aware_rpn", False):
            probs = mx.nd.softmax(logits[0], axis=-1)
            fg = 1 - probs[:, 0]
            top = min(params.rpn_pre_nms_top_n, fg.shape[0]) if params.rpn_pre_nms_top_n > 0 else fg.shape[0]
            keep = mx.nd.topk(fg, k=top, ret_typ="indices")  # NMS on the best anchors only
            boxes = clip_boxes(decode_boxes(deltas, anchors, (1.0, 1.0, 1.0, 1.0)), height, width)[0]
            return boxes.take(keep) / scale, probs.take(keep)
        if proposals is not None:
            rois = proposals.reshape((-1, 4))
        else:
            fg = 1 - mx.nd.softmax(logits, axis=-1)[:, :, 0]
            rois, _ = propose(anchors, fg, deltas, im_info, params.rpn_pre_nms_top_n, params.rpn_post_nms_top_n,
                              params.rpn_nms_thresh, params.rpn_min_size)
        cls_score, bbox_pred = net.head_forward(feat, rois)
        boxes = clip_boxes(decode_head_boxes(bbox_pred, rois, params), height, width)
        probs = mx.nd.softmax(cls_score, axis=-1)
        if params.bbox_averaging:
            boxes, probs = _second_iteration(net, feat, boxes, probs, params, height, width)
        return boxes / scale, probs


def _second_iteration(net, feat, boxes: mx.nd.NDArray, probs: mx.nd.NDArray, params: DetectParams,
                      height: float, width: float) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
    """The regressed boxes as RoIs once more; both iterations' candidates, concatenated.

    Class-specific heads send each RoI's box of its best foreground class.
    """
    if boxes.ndim == 3:
        best = mx.nd.argmax(probs[:, 1:], axis=1) + 1
        rois = mx.nd.pick(boxes, best.reshape((-1, 1)).broadcast_to((best.shape[0], 4)), axis=1)
    else:
        rois = boxes
    cls_score, bbox_pred = net.head_forward(feat, rois)
    boxes2 = clip_boxes(decode_head_boxes(bbox_pred, rois, params), height, width)
    return mx.nd.concat(boxes, boxes2, dim=0), mx.nd.concat(probs, mx.nd.softmax(cls_score, axis=-1), dim=0)


def detect(net, data: mx.nd.NDArray, im_info: mx.nd.NDArray, params: DetectParams,
           proposals: Optional[mx.nd.NDArray] = None) -> np.ndarray:
    """Detections of one image; ``im_info`` (1, 3) = resized (height, width, scale)."""
    boxes, probs = raw_detections(net, data, im_info, params, proposals)
    return postprocess(boxes, probs, 1.0, params)


def detect_multiscale(net, inputs: Sequence[Tuple[mx.nd.NDArray, mx.nd.NDArray]], params: DetectParams,
                      proposals: Optional[Sequence[mx.nd.NDArray]] = None) -> np.ndarray:
    """Detections of one image tested at several scales: ``inputs`` = [(data, im_info), ...] (one per
    TEST scale); every scale's raw boxes and scores are merged, then one (Soft-)NMS."""
    if not inputs:
        raise ValueError("detect_multiscale needs at least one (data, im_info) input")
    parts = [raw_detections(net, data, info, params, None if proposals is None else proposals[i])
             for i, (data, info) in enumerate(inputs)]
    boxes = mx.nd.concat(*[b for b, _ in parts], dim=0)
    probs = mx.nd.concat(*[p for _, p in parts], dim=0)
    return postprocess(boxes, probs, 1.0, params)
