"""PASCAL VOC 2012 segmentation reader, with SBD augmented annotations.

``root`` is the ``VOC2012`` folder (``JPEGImages/``, ``SegmentationClass/``,
``ImageSets/Segmentation/``) or the synthetic dataset folder. Split lists are
looked up as ``ImageSets/Segmentation/<split>.txt`` then ``ImageSets/Main/<split>.txt``
(where the original README put ``train_seg.txt``/``val_seg.txt``).

``split='train_aug'`` with ``sbd_root`` (SBD ``benchmark_RELEASE/dataset``
with ``cls/*.mat``, ``img/``, ``train.txt``, ``val.txt``) builds the usual
10,582-image list when no list file exists: (SBD train + SBD val + VOC train)
minus VOC val (1,449 images). Each image's label is the VOC PNG when one
exists (it has the 255 object borders), else the SBD ``.mat``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Sequence

from tqdm import tqdm

from .base import SegmentationDataset
from .image_io import check_complete, image_size, load_sbd_mat
from .records import BadFilePolicy, DatasetFileError, PathLike, SegRecord
from .voc import VOC_CLASSES, read_id_list

logger = logging.getLogger(__name__)

VOC_SEG_CLASSES = ("background",) + VOC_CLASSES


class VOCSegmentation(SegmentationDataset):
    """VOC-layout segmentation (labels 0 = background, 255 = border/ignore)."""

    def __init__(self, root: PathLike, split: str = "train", classes: Sequence[str] = VOC_SEG_CLASSES,
                 sbd_root: Optional[PathLike] = None, skip_bad: bool = False, verify_sizes: bool = True) -> None:
        root = Path(root)
        sbd = Path(sbd_root) if sbd_root else None
        ids = self._split_ids(root, split, sbd)
        policy = BadFilePolicy(skip_bad, f"VOC seg {split}")
        records: List[SegRecord] = []
        for image_id in tqdm(ids, desc=f"VOC seg {split}", leave=False, disable=len(ids) < 1000):
            try:
                records.append(self._make_record(root, sbd, image_id, verify_sizes))
            except DatasetFileError as e:
                policy.handle(e)
        logger.info("VOC seg %s: %d images", split, len(records))
        super().__init__(f"voc_seg_{split}", classes, records, policy, ignore_label=255)

    @staticmethod
    def _split_ids(root: Path, split: str, sbd: Optional[Path]) -> List[str]:
        candidates = [root / "ImageSets" / "Segmentation" / f"{split}.txt",
                      root / "ImageSets" / "Main" / f"{split}.txt"]
        for c in candidates:
            if c.is_file():
                return read_id_list(c)
        if split == "train_aug" and sbd is not None:
            seg = root / "ImageSets" / "Segmentation"
            train = set(read_id_list(sbd / "train.txt")) | set(read_id_list(sbd / "val.txt"))
            train |= set(read_id_list(seg / "train.txt"))
            return sorted(train - set(read_id_list(seg / "val.txt")))
        hint = " (train_aug needs sbd_root=)" if split == "train_aug" else ""
        raise DatasetFileError(candidates[0], f"segmentation list does not exist{hint}")

    @staticmethod
    def _make_record(root: Path, sbd: Optional[Path], image_id: str, verify_sizes: bool) -> SegRecord:
        img_path = root / "JPEGImages" / f"{image_id}.jpg"
        if not img_path.is_file() and sbd is not None and (sbd / "img" / f"{image_id}.jpg").is_file():
            img_path = sbd / "img" / f"{image_id}.jpg"
        label_path = root / "SegmentationClass" / f"{image_id}.png"
        if not label_path.is_file() and sbd is not None:
            label_path = sbd / "cls" / f"{image_id}.mat"
        h, w = image_size(img_path)  # raises naming the image if it is missing/broken
        check_complete(img_path)
        if not label_path.is_file():
            raise DatasetFileError(label_path, f"label for {image_id} does not exist")
        if verify_sizes:
            if label_path.suffix == ".mat":
                load_sbd_mat(label_path, (h, w))  # no header-only size for .mat files
            else:
                lh, lw = image_size(label_path)
                if (lh, lw) != (h, w):
                    raise DatasetFileError(label_path, f"label is {lh}x{lw}, image is {h}x{w}")
        return SegRecord(image_id, img_path, label_path, h, w)
