"""Cityscapes semantic segmentation reader (19 trainIds, 255 ignore).

Layout: ``<root>/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` with labels
``<root>/gtFine/<split>/<city>/<stem>_gtFine_labelIds.png``. The raw labelIds
are mapped to trainIds in memory (``LABELID_TO_TRAINID``) so that the
cityscapesScripts conversion step the original needed is not required;
``label_type='labelTrainIds'`` reads already converted files instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
from tqdm import tqdm

from .base import SegmentationDataset
from .image_io import check_complete, image_size
from .records import BadFilePolicy, DatasetFileError, PathLike, SegRecord

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle")

# RGB colour of each train id (cityscapesScripts labels.py; the original DeepLab demo draws these); 255 black
CITYSCAPES_COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32))

# labelId -> trainId for the 19 evaluated classes (cityscapesScripts labels.py);
# every other id (void, parking, rail track, guard rail, bridge, tunnel, polegroup,
# caravan, trailer, license plate) is ignored.
_EVALUATED_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
LABELID_TO_TRAINID = np.full(256, 255, np.uint8)
LABELID_TO_TRAINID[list(_EVALUATED_IDS)] = np.arange(19, dtype=np.uint8)


class CityscapesSegmentation(SegmentationDataset):
    """Cityscapes fine annotations for ``split`` in train/val/test."""

    def __init__(self, root: PathLike, split: str = "train", label_type: str = "labelIds",
                 skip_bad: bool = False, verify_sizes: bool = True) -> None:
        if label_type not in ("labelIds", "labelTrainIds"):
            raise ValueError(f"label_type must be labelIds or labelTrainIds, got {label_type!r}")
        root = Path(root)
        img_root = root / "leftImg8bit" / split
        if not img_root.is_dir():
            raise DatasetFileError(img_root, "Cityscapes image folder does not exist")
        images = sorted(img_root.glob("*/*_leftImg8bit.png"))
        if not images:
            raise DatasetFileError(img_root, "no <city>/*_leftImg8bit.png images found")
        policy = BadFilePolicy(skip_bad, f"Cityscapes {split}")
        records: List[SegRecord] = []
        for img_path in tqdm(images, desc=f"Cityscapes {split}", leave=False, disable=len(images) < 1000):
            stem = img_path.name[: -len("_leftImg8bit.png")]
            city = img_path.parent.name
            label_path = root / "gtFine" / split / city / f"{stem}_gtFine_{label_type}.png"
            try:
                records.append(_make_record(f"{city}/{stem}", img_path, label_path, verify_sizes))
            except DatasetFileError as e:
                policy.handle(e)
        lut = LABELID_TO_TRAINID if label_type == "labelIds" else None
        super().__init__(f"cityscapes_{split}", CITYSCAPES_CLASSES, records, policy,
                         ignore_label=255, label_lut=lut)


def _make_record(image_id: str, img_path: Path, label_path: Path, verify_sizes: bool) -> SegRecord:
    """Record with existence (and, cheaply from headers, size) checks."""
    if not label_path.is_file():
        raise DatasetFileError(label_path, f"label file for {img_path.name} does not exist")
    h, w = image_size(img_path)
    check_complete(img_path)
    if verify_sizes:
        lh, lw = image_size(label_path)
        if (lh, lw) != (h, w):
            raise DatasetFileError(label_path, f"label is {lh}x{lw}, image is {h}x{w}")
    return SegRecord(image_id, img_path, label_path, h, w)
