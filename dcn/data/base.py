"""Minimal dataset containers the readers fill: a list of records plus loading."""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

from .image_io import load_image, load_label_png, load_sbd_mat
from .records import BadFilePolicy, DatasetFileError, DetRecord, SegRecord


class _RecordList:
    """What both containers share: name, class names, records, the files the reader skipped."""

    def __init__(self, name: str, classes: Sequence[str], records: List[Union[DetRecord, SegRecord]],
                 policy: BadFilePolicy) -> None:
        self.name = name
        self.classes = tuple(classes)
        self.records = records
        self.skipped = policy.skipped
        policy.report()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def __len__(self) -> int:
        return len(self.records)

    def aspect_ratios(self) -> np.ndarray:
        return np.array([r.aspect_ratio for r in self.records], np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} images, {self.num_classes} classes)"


class DetectionDataset(_RecordList):
    """Indexable list of :class:`DetRecord`; ``ds[i]`` -> (BGR uint8 image, record).

    ``num_classes``: foreground classes (add 1 for a background slot in the detectors).
    """

    def __getitem__(self, idx: int) -> Tuple[np.ndarray, DetRecord]:
        rec = self.records[idx]
        return load_image(rec.image_path, (rec.height, rec.width)), rec


class SegmentationDataset(_RecordList):
    """Indexable list of :class:`SegRecord`; ``ds[i]`` -> (BGR uint8 image, uint8 label).

    ``num_classes``: classes including background where the dataset has one (VOC: 21).
    ``label_lut`` (256 entries) remaps raw label values, e.g. Cityscapes labelIds
    to trainIds; values >= num_classes other than ``ignore_label`` are an error
    at load time, because they would silently corrupt the loss.
    """

    def __init__(self, name: str, classes: Sequence[str], records: List[SegRecord],
                 policy: BadFilePolicy, ignore_label: int = 255,
                 label_lut: np.ndarray | None = None) -> None:
        super().__init__(name, classes, records, policy)
        self.ignore_label = ignore_label
        self.label_lut = label_lut

    def load_label(self, rec: SegRecord) -> np.ndarray:
        hw = (rec.height, rec.width)
        if rec.label_path.suffix == ".mat":
            label = load_sbd_mat(rec.label_path, hw)
        else:
            label = load_label_png(rec.label_path, hw)
        if self.label_lut is not None:
            label = self.label_lut[label]
        bad = (label >= self.num_classes) & (label != self.ignore_label)
        if bad.any():
            raise DatasetFileError(rec.label_path, f"label values {np.unique(label[bad]).tolist()} "
                                                   f"outside [0, {self.num_classes}) and != {self.ignore_label}")
        return label

    def __getitem__(self, idx: int) -> Tuple[np.ndarray, np.ndarray]:
        rec = self.records[idx]
        return load_image(rec.image_path, (rec.height, rec.width)), self.load_label(rec)
