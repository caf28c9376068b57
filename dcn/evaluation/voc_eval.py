"""PASCAL VOC detection mAP at several IoU thresholds (the paper reports 0.5
and 0.7), each as the VOC07 11-point and the VOC2010+ area version.

Matching is gluoncv's ``VOCMApMetric`` (the devkit rules: per class, detections
in descending score each take the best-IoU ground truth; a hit on a difficult
box is neither TP nor FP; a second hit on a box is FP; IoU uses the devkit's
inclusive ``+1`` pixel areas; difficult boxes are not counted as positives).
The two AP integrations are gluoncv's ``VOCMApMetric`` / ``VOC07MApMetric``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from gluoncv.utils.metrics.voc_detection import VOC07MApMetric, VOCMApMetric

from ..data.records import DetRecord

METRICS = ("area", "11point")


def voc_ap(rec: np.ndarray, prec: np.ndarray, use_07_metric: bool) -> float:
    """AP from a cumulative recall/precision curve (devkit definitions)."""
    cls = VOC07MApMetric if use_07_metric else VOCMApMetric
    # gluoncv 0.10.5: _average_precision is a pure function of (rec, prec), self is unused
    return float(cls._average_precision(None, rec, prec))


def metric_for_year(year: int) -> str:
    """The devkit switched from 11-point to area AP in VOC2010."""
    return "11point" if year < 2010 else "area"


class _Matcher(VOCMApMetric):
    """gluoncv's matcher, exposing per-class recall/precision curves."""

    def curves(self, num_classes: int) -> Tuple[List[Optional[np.ndarray]], List[Optional[np.ndarray]]]:
        rec: List[Optional[np.ndarray]] = [None] * num_classes
        prec: List[Optional[np.ndarray]] = [None] * num_classes
        if self._n_pos:
            r, p = self._recall_prec()
            for c in range(min(num_classes, len(r))):
                rec[c], prec[c] = r[c], p[c]
        return rec, prec


@dataclass
class VOCResult:
    """Per-class AP for each (iou, metric); NaN for classes without ground truth."""

    class_names: Tuple[str, ...]
    ap: Dict[Tuple[float, str], np.ndarray]
    by_size: Dict[str, float] = field(default_factory=dict)  # COCO-style AP per object size (.size_ap)

    def map(self, iou: float = 0.5, metric: str = "area") -> float:
        aps = self.ap[(iou, metric)]
        return float(np.nanmean(aps)) if np.isfinite(aps).any() else float("nan")

    def summary(self) -> Dict[str, float]:
        """{'mAP@0.5': area AP, 'mAP@0.5_07': 11-point AP, ...}."""
        out = {}
        for iou, metric in self.ap:
            out[f"mAP@{iou:g}" + ("_07" if metric == "11point" else "")] = self.map(iou, metric)
        out.update(self.by_size)
        return out

    def table(self) -> str:
        keys = list(self.ap)
        head = f"{'class':<16}" + "".join(f"{'AP@%g %s' % (i, m):>16}" for i, m in keys)
        rows = [head]
        for c, name in enumerate(self.class_names):
            rows.append(f"{name:<16}" + "".join(f"{100 * self.ap[k][c]:>16.2f}" for k in keys))
        rows.append(f"{'mAP':<16}" + "".join(f"{100 * self.map(*k):>16.2f}" for k in keys))
        return "\n".join(rows)


class VOCDetectionEvaluator:
    """Accumulate per-image detections and ground truth, then :meth:`evaluate`.

    Boxes are inclusive x1y1x2y2 in original-image pixels, labels 0-based.
    """

    def __init__(self, class_names: Sequence[str], iou_thresholds: Sequence[float] = (0.5, 0.7)) -> None:
        self.class_names = tuple(class_names)
        self.iou_thresholds = tuple(float(t) for t in iou_thresholds)
        self.reset()

    def reset(self) -> None:
        self._matchers = {t: _Matcher(iou_thresh=t) for t in self.iou_thresholds}
        self.num_images = 0

    def update(self, pred_boxes: np.ndarray, pred_labels: np.ndarray, pred_scores: np.ndarray,
               gt_boxes: np.ndarray, gt_labels: np.ndarray, gt_difficult: Optional[np.ndarray] = None) -> None:
        """One image's detections (N,4)/(N,)/(N,) and ground truth (K,4)/(K,)/(K,)."""
        pb = np.asarray(pred_boxes, np.float64).reshape(1, -1, 4)
        pl = np.asarray(pred_labels, np.float64).reshape(1, -1)
        ps = np.asarray(pred_scores, np.float64).reshape(1, -1)
        gb = np.asarray(gt_boxes, np.float64).reshape(1, -1, 4)
        gl = np.asarray(gt_labels, np.float64).reshape(1, -1)
        gd = (np.zeros_like(gl) if gt_difficult is None
              else np.asarray(gt_difficult, np.float64).reshape(1, -1))
        if not (pb.shape[1] == pl.shape[1] == ps.shape[1]) or not (gb.shape[1] == gl.shape[1] == gd.shape[1]):
            raise ValueError("prediction or ground-truth arrays of one image have different lengths")
        for m in self._matchers.values():
            m.update(pb, pl, ps, gb, gl, gd)
        self.num_images += 1

    def update_record(self, rec: DetRecord, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> None:
        self.update(boxes, labels, scores, rec.boxes, rec.labels, rec.difficult)

    def curves(self, iou: float) -> Tuple[List[Optional[np.ndarray]], List[Optional[np.ndarray]]]:
        """Per-class cumulative (recall, precision); None where undefined."""
        return self._matchers[float(iou)].curves(len(self.class_names))

    def evaluate(self) -> VOCResult:
        ap = {}
        for t in self.iou_thresholds:
            rec, prec = self.curves(t)
            for metric in METRICS:
                ap[(t, metric)] = np.array(
                    [voc_ap(r, p, metric == "11point") if r is not None and p is not None else np.nan
                     for r, p in zip(rec, prec)], np.float64)
        return VOCResult(self.class_names, ap)
