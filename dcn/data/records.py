"""Typed records shared by every dataset reader, and the bad-file policy.

Box convention (kept from the original codebase so that VOC/COCO evaluation
matches the devkits): ``x1, y1, x2, y2`` are 0-based *inclusive* pixel indices,
so a box covering pixels 0..9 has width ``x2 - x1 + 1 = 10``. Labels are
0-based indices into the dataset's ``classes`` (no background entry).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


class DatasetFileError(ValueError):
    """A dataset file is missing or malformed. ``path`` names the file."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class DetRecord:
    """One detection image: where it is, its size and its ground truth."""

    image_id: str
    image_path: Path
    height: int
    width: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    difficult: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, np.int32).reshape(-1)
        self.difficult = np.asarray(self.difficult, bool).reshape(-1)
        if not (len(self.boxes) == len(self.labels) == len(self.difficult)):
            raise ValueError(f"{self.image_id}: boxes/labels/difficult lengths differ")

    @property
    def num_objects(self) -> int:
        return len(self.labels)

    @property
    def aspect_ratio(self) -> float:
        """width / height, used by the aspect-ratio grouping sampler."""
        return self.width / float(self.height)

    def without_difficult(self) -> "DetRecord":
        """Copy without difficult objects (the original drops them for training)."""
        keep = ~self.difficult
        return DetRecord(self.image_id, self.image_path, self.height, self.width,
                         self.boxes[keep], self.labels[keep], self.difficult[keep])


@dataclass
class SegRecord:
    """One segmentation image and its label file (PNG or SBD .mat)."""

    image_id: str
    image_path: Path
    label_path: Path
    height: int
    width: int

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        self.label_path = Path(self.label_path)

    @property
    def aspect_ratio(self) -> float:
        return self.width / float(self.height)


class BadFilePolicy:
    """Raise on the first bad file, or with ``skip_bad=True`` count and skip it.

    Readers route every per-image problem through :meth:`handle` so that nothing
    is dropped silently: the skipped entries stay available on ``skipped``.
    """

    def __init__(self, skip_bad: bool, name: str) -> None:
        self.skip_bad = skip_bad
        self.name = name
        self.skipped: List[Tuple[Path, str]] = []

    def handle(self, err: DatasetFileError) -> None:
        if not self.skip_bad:
            raise err
        self.skipped.append((err.path, err.reason))

    def report(self) -> None:
        if self.skipped:
            path, reason = self.skipped[0]
            logger.warning("%s: skipped %d bad entries (skip_bad=True); first: %s: %s",
                           self.name, len(self.skipped), path, reason)
