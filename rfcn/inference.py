"""Test-time detection of one image -> (K, 6) [class, score, x1, y1, x2, y2].

R-FCN: RPN proposals (TEST.RPN_*), head scores (softmax) and class-agnostic
boxes; class-aware RPN: every anchor's (C+1)-way scores and its box. Then
per-class NMS (``box_nms`` with class ids, TEST.NMS = 0.3), score threshold,
at most ``max_per_image`` detections, coordinates divided by the resize scale
(original-image pixels, 0-based inclusive as the datasets' boxes). Classes are
0-based foreground indices (background removed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd

from .model import RFCN
from .rpn import clip_boxes, decode_boxes, propose


@dataclass
class DetectParams:
    rpn_pre_nms_top_n: int = 6000
    rpn_post_nms_top_n: int = 300
    rpn_nms_thresh: float = 0.7
    rpn_min_size: float = 0
    nms: float = 0.3
    score_thresh: float = 1e-3
    max_per_image: int = 300
    bbox_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0)
    bbox_stds: Sequence[float] = (0.1, 0.1, 0.2, 0.2)


def postprocess(boxes: mx.nd.NDArray, probs: mx.nd.NDArray, scale: float, params: DetectParams) -> np.ndarray:
    """Class-agnostic boxes (R, 4) and probabilities (R, C+1) -> detections (K, 6), best first."""
    num_rois, num_fg = probs.shape[0], probs.shape[1] - 1
    if num_rois == 0 or num_fg == 0:
        return np.zeros((0, 6), np.float32)
    ctx = probs.context
    ids = mx.nd.arange(num_fg, ctx=ctx).reshape((1, num_fg, 1)).broadcast_to((num_rois, num_fg, 1))
    scores = probs[:, 1:].reshape((num_rois, num_fg, 1))
    coords = boxes.reshape((num_rois, 1, 4)).broadcast_to((num_rois, num_fg, 4))
    dets = mx.nd.concat(ids, scores, coords, dim=2).reshape((-1, 6))
    dets = mx.nd.contrib.box_nms(dets, overlap_thresh=params.nms, valid_thresh=params.score_thresh, topk=-1,
                                 coord_start=2, score_index=1, id_index=0, force_suppress=False).asnumpy()
    dets = dets[dets[:, 0] >= 0]  # sorted by score; suppressed rows are -1
    if params.max_per_image > 0:
        dets = dets[:params.max_per_image]
    dets[:, 2:6] /= scale
    return dets.astype(np.float32)


def detect(net: RFCN, data: mx.nd.NDArray, im_info: mx.nd.NDArray, params: DetectParams) -> np.ndarray:
    """Detections of one image; ``im_info`` (1, 3) = resized (height, width, scale)."""
    with autograd.predict_mode():
        feat, logits, deltas, anchors = net(data)
        height, width, scale = (float(v) for v in im_info[0].asnumpy())
        if net.spec.class_aware_rpn:
            probs = mx.nd.softmax(logits[0], axis=-1)
            fg = 1 - probs[:, 0]
            top = min(params.rpn_pre_nms_top_n, fg.shape[0]) if params.rpn_pre_nms_top_n > 0 else fg.shape[0]
            keep = mx.nd.topk(fg, k=top, ret_typ="indices")  # NMS on the best anchors only
            boxes = clip_boxes(decode_boxes(deltas, anchors, (1.0, 1.0, 1.0, 1.0)), height, width)[0]
            return postprocess(boxes.take(keep), probs.take(keep), scale, params)
        fg = 1 - mx.nd.softmax(logits, axis=-1)[:, :, 0]
        rois, _ = propose(anchors, fg, deltas, im_info, params.rpn_pre_nms_top_n, params.rpn_post_nms_top_n,
                          params.rpn_nms_thresh, params.rpn_min_size)
        cls_score, bbox_pred = net.head_forward(feat, rois)
        means = mx.nd.array(np.asarray(params.bbox_means, np.float32) / np.asarray(params.bbox_stds, np.float32),
                            ctx=data.context)
        boxes = decode_boxes((bbox_pred + means).expand_dims(0), rois.expand_dims(0), params.bbox_stds)
        boxes = clip_boxes(boxes, height, width)[0]
        return postprocess(boxes, mx.nd.softmax(cls_score, axis=-1), scale, params)
