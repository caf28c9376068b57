"""Soft-NMS (Bodla et al. 2017), as the original FPN's test (``TEST.USE_SOFTNMS``).

Boxes are taken in order of their current score; each pick decays the scores
of the remaining boxes by their IoU with it:

* ``linear``:   s <- s * (1 - IoU)        where IoU > ``iou_thresh`` (else kept);
* ``gaussian``: s <- s * exp(-IoU^2 / sigma)   (the original: sigma = TEST.SOFTNMS_THRESH = 0.6).

Boxes whose score falls below ``score_thresh`` are dropped. IoU uses
``x2 - x1`` widths, as ``mx.nd.contrib.box_nms`` and the rest of
``dcn.detection``.
"""
from __future__ import annotations

import numpy as np

from .nms import pairwise_iou

METHODS = ("linear", "gaussian")


def soft_nms(boxes: np.ndarray, scores: np.ndarray, method: str = "gaussian", sigma: float = 0.5,
             iou_thresh: float = 0.3, score_thresh: float = 1e-3) -> np.ndarray:
    """Boxes (N, 4) and scores (N,) of one class -> (K, 5) ``[x1, y1, x2, y2, new score]``, best first."""
    if method not in METHODS:
        raise ValueError(f"soft-NMS method must be one of {METHODS}, got {method!r}")
    if method == "gaussian" and sigma <= 0:
        raise ValueError(f"soft-NMS sigma must be > 0, got {sigma}")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1).copy()
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    alive = scores >= score_thresh
    boxes, scores = boxes[alive], scores[alive]
    out = []
    while len(scores):
        best = int(np.argmax(scores))
        out.append(np.append(boxes[best], scores[best]))
        box = boxes[best]
        boxes, scores = np.delete(boxes, best, axis=0), np.delete(scores, best)
        if not len(scores):
            break
        iou = pairwise_iou(box, boxes)
        if method == "linear":
            scores = scores * np.where(iou > iou_thresh, 1.0 - iou, 1.0)
        else:
            scores = scores * np.exp(-(iou * iou) / sigma)
        keep = scores >= score_thresh
        boxes, scores = boxes[keep], scores[keep]
    return np.asarray(out, np.float32).reshape(-1, 5)
