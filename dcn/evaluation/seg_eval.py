"""Semantic segmentation mIoU from a confusion matrix accumulated over images.

IoU_c = TP / (TP + FP + FN) with pixels labelled ``ignore_label`` left out.
A class absent from both ground truth and predictions has undefined IoU (NaN)
and is excluded from the mean (the original counted it as 0, which only
matters for tiny subsets).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


@dataclass
class SegResult:
    class_names: Sequence[str]
    iou: np.ndarray  # (C,) per-class IoU, NaN when undefined
    confusion: np.ndarray  # (C, C) int64, rows = ground truth, columns = prediction

    @property
    def miou(self) -> float:
        return float(np.nanmean(self.iou)) if np.isfinite(self.iou).any() else float("nan")

    @property
    def pixel_accuracy(self) -> float:
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else float("nan")

    def table(self) -> str:
        rows = [f"{'class':<16}{'IoU':>8}"]
        rows += [f"{n:<16}{100 * v:>8.2f}" for n, v in zip(self.class_names, self.iou)]
        rows.append(f"{'mIoU':<16}{100 * self.miou:>8.2f}")
        return "\n".join(rows)


class SegmentationEvaluator:
    """``update(pred, label)`` per image, then :meth:`evaluate`."""

    def __init__(self, num_classes: int, ignore_label: int = 255,
                 class_names: Optional[Sequence[str]] = None) -> None:
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")
        self.reset()

    def reset(self) -> None:
        self.confusion = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, pred: np.ndarray, label: np.ndarray) -> None:
        """``pred`` and ``label``: integer maps of the same shape (class ids)."""
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        label = np.asarray(label).reshape(-1).astype(np.int64)
        if pred.shape != label.shape:
            raise ValueError(f"prediction has {pred.size} pixels, label {label.size}")
        keep = label != self.ignore_label
        pred, label = pred[keep], label[keep]
        c = self.num_classes
        if label.size and (label.min() < 0 or label.max() >= c):
            raise ValueError(f"label values outside [0, {c}) other than ignore {self.ignore_label}")
        if pred.size and (pred.min() < 0 or pred.max() >= c):
            raise ValueError(f"prediction values outside [0, {c})")
        self.confusion += np.bincount(label * c + pred, minlength=c * c).reshape(c, c)

    def evaluate(self) -> SegResult:
        cm = self.confusion
        tp = np.diag(cm).astype(np.float64)
        union = cm.sum(0) + cm.sum(1) - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        return SegResult(self.class_names, iou, cm.copy())
