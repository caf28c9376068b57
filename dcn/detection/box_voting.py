"""Box averaging ("voting") after NMS: each kept detection's box becomes the score-weighted mean of
every candidate box of its class that overlaps it by at least ``iou_thresh`` (itself included).

With the candidates of two regression iterations (``DetectParams.bbox_averaging``) this is the
iterative bounding-box averaging of Gidaris & Komodakis (2015), the "B" of the paper's Table 5.
"""
from __future__ import annotations

import numpy as np

from .nms import pairwise_iou


def vote_boxes(dets: np.ndarray, coords: np.ndarray, scores: np.ndarray, iou_thresh: float = 0.5,
               score_thresh: float = 0.0) -> np.ndarray:
    """``dets`` (K, 6) [class, score, x1, y1, x2, y2] after NMS; candidates ``coords`` (R, C, 4) and
    ``scores`` (R, C) (foreground classes). Returns a copy of ``dets`` with averaged boxes; scores unchanged."""
    out = np.array(dets, np.float32, copy=True)
    for k in range(len(out)):
        c = int(out[k, 0])
        keep = scores[:, c] >= score_thresh
        boxes, weights = coords[keep, c], scores[keep, c]
        if len(boxes) == 0:
            continue
        near = pairwise_iou(out[k, 2:6], boxes) >= iou_thresh
        if near.any() and weights[near].sum() > 0:
            out[k, 2:6] = (boxes[near] * weights[near, None]).sum(axis=0) / weights[near].sum()
    return out
