"""AP by object size (COCO's small / medium / large: area < 32², < 96², larger) at given IoUs.

pycocotools' ``COCOeval`` with its own rules (ground truth outside a size range
is ignored, so are unmatched detections outside it; 101-point interpolated AP,
up to 100 detections per image), on detections and ground truth kept in memory.
The numbers are COCO-style AP, not the VOC area AP of :mod:`.voc_eval`.
"""
from __future__ import annotations

import contextlib
import io
from typing import Dict, List, Sequence

import numpy as np
from pycocotools.cocoeval import COCOeval

from .coco_eval import detections_to_coco, quiet_coco

SIZES = ("all", "small", "medium", "large")  # COCOeval's areaRng order


class SizeAPEvaluator:
    """Accumulate images (inclusive x1y1x2y2 boxes, 0-based labels), then :meth:`evaluate`."""

    def __init__(self, num_classes: int, iou_thresholds: Sequence[float] = (0.5, 0.7)) -> None:
        self.num_classes = num_classes
        self.iou_thresholds = tuple(float(t) for t in iou_thresholds)
        self._images: List[dict] = []
        self._gts: List[dict] = []
        self._dets: List[dict] = []

    def update(self, pred_boxes: np.ndarray, pred_labels: np.ndarray, pred_scores: np.ndarray,
               gt_boxes: np.ndarray, gt_labels: np.ndarray, gt_difficult=None) -> None:
        image_id = len(self._images) + 1
        self._images.append({"id": image_id})
        gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        difficult = np.zeros(len(gt_boxes), bool) if gt_difficult is None else np.asarray(gt_difficult, bool)
        for (x1, y1, x2, y2), lab, hard in zip(gt_boxes, np.asarray(gt_labels).reshape(-1), difficult):
            w, h = x2 - x1 + 1, y2 - y1 + 1
            self._gts.append({"id": len(self._gts) + 1, "image_id": image_id, "category_id": int(lab) + 1,
                              "bbox": [float(x1), float(y1), float(w), float(h)], "area": float(w * h),
                              "iscrowd": int(hard)})  # pycocotools' only "ignore" flag: VOC difficult
        self._dets += detections_to_coco(image_id, pred_boxes, pred_labels, pred_scores,
                                         list(range(1, self.num_classes + 1)))

    def evaluate(self) -> Dict[str, float]:
        """{'AP@0.5_small': ..., 'AP@0.7_large': ...} (NaN where a size has no ground truth)."""
        out = {f"AP@{t:g}_{s}": float("nan") for t in self.iou_thresholds for s in SIZES[1:]}
        if not self._gts:
            return out
        gt = quiet_coco({"images": self._images, "annotations": self._gts,
                         "categories": [{"id": c} for c in range(1, self.num_classes + 1)]})
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes(self._dets) if self._dets else quiet_coco({"images": self._images, "annotations": [],
                                                                        "categories": gt.dataset["categories"]})
            ev = COCOeval(gt, dt, "bbox")
            ev.params.iouThrs = np.array(self.iou_thresholds)
            ev.evaluate()
            ev.accumulate()
        precision = ev.eval["precision"]  # (T, recall points, K, areas, max dets)
        for ti, t in enumerate(self.iou_thresholds):
            for ai, size in enumerate(SIZES):
                if size == "all":
                    continue
                p = precision[ti, :, :, ai, -1]
                out[f"AP@{t:g}_{size}"] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        return out
