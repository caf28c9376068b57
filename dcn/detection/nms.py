"""Greedy NMS on the CPU in numpy, and the box IoU it shares with Soft-NMS and box voting.

IoU uses ``x2 - x1`` widths, as ``mx.nd.contrib.box_nms``. ``greedy_nms`` stops
once ``max_keep`` boxes are kept: the RPN keeps 300 of 2000 candidates per
training image, and ``box_nms`` (which always suppresses the whole list) took
~15 % of an R-FCN training step on a 2-core CPU.
"""
from __future__ import annotations

import numpy as np


def pairwise_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box with (N, 4) boxes (corner format, ``x2 - x1`` widths)."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_thresh: float, max_keep: int = -1,
               pre_top_n: int = -1, valid_thresh: float = 0.0) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, best first.

    Only boxes scoring above ``valid_thresh`` take part; of those, the ``pre_top_n`` best (all if < 0).
    A box is suppressed when its IoU with a kept, better box exceeds ``iou_thresh``. Ties in score keep
    the input order.
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    scores = np.asarray(scores).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > valid_thresh]
    if pre_top_n >= 0:
        order = order[:pre_top_n]
    limit = len(order) if max_keep < 0 else max_keep
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, i], dtype=np.float64) for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while len(order) and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])
        h = np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])
        inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
        union = areas[best] + areas[rest] - inter
        # IoU <= thresh, written without a division (union 0 means IoU 0, as pairwise_iou)
        order = rest[(inter <= iou_thresh * union) | (union <= 0)]
    return np.asarray(keep, dtype=np.int64)
