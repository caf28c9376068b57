"""COCO detection reader: ``<root>/annotations/instances_<split>.json`` + images.

Images are looked up in ``image_dir`` or, by default, the first existing of
``<root>/images/<folder>`` (original codebase layout) and ``<root>/<folder>``
(the 2017 layout), where ``<folder>`` is the split, except that minival2014 and
valminusminival2014 live in val2014. Own reader (not
``gluoncv.data.COCODetection``): that one fixes the folder layout and silently
drops images without valid boxes.
"""
from __future__ import annotations

import json
import math
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from tqdm import tqdm

from .base import DetectionDataset
from .image_io import check_complete
from .records import BadFilePolicy, DatasetFileError, DetRecord, PathLike

logger = logging.getLogger(__name__)

_IMAGE_FOLDER = {"minival2014": "val2014", "valminusminival2014": "val2014",
                 "test-dev2015": "test2015", "test-dev2017": "test2017"}


def load_coco_json(path: PathLike) -> Dict[str, Any]:
    """Parse a COCO annotation file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(path, "annotation file does not exist")
    try:
        with open(path) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFileError(path, f"broken JSON ({e})") from e
    if not isinstance(data, dict) or "images" not in data or "categories" not in data:
        raise DatasetFileError(path, "not a COCO annotation file (needs 'images' and 'categories')")
    return data


def coco_box_to_xyxy(bbox: List[float], width: int, height: int) -> Optional[np.ndarray]:
    """[x, y, w, h] -> inclusive x1y1x2y2 clipped to the image, as the original's
    sanitisation; None for a degenerate box."""
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"bbox {list(bbox)} has a non-finite value")
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if w <= 0 or h <= 0 or x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2, y2], np.float32)


class COCODetection(DetectionDataset):
    """COCO detection dataset.

    ``labels`` are contiguous 0..C-1 in category-id order; ``cat_ids[label]``
    maps back to the JSON category id and ``image_ids[i]`` is record i's JSON
    image id (both needed to write results JSON). Crowd boxes are left out of
    the records (the original trains without them; COCOeval reads them from
    the JSON). Degenerate boxes are dropped and counted in ``num_dropped_boxes``.
    """

    def __init__(self, root: PathLike, split: str = "val2017", image_dir: Optional[PathLike] = None,
                 annotation_file: Optional[PathLike] = None, skip_bad: bool = False,
                 include_crowd: bool = False) -> None:
        root = Path(root)
        self.annotation_file = Path(annotation_file) if annotation_file else root / "annotations" / f"instances_{split}.json"
        self.data = load_coco_json(self.annotation_file)
        self.image_dir = Path(image_dir) if image_dir else self._find_image_dir(root, split)
        try:
            cats = sorted(self.data["categories"], key=lambda c: c["id"])
            self.cat_ids = [int(c["id"]) for c in cats]
            classes = [str(c["name"]) for c in cats]
        except (KeyError, TypeError) as e:
            raise DatasetFileError(self.annotation_file, f"malformed categories ({e})") from e
        cat_to_label = {cid: i for i, cid in enumerate(self.cat_ids)}

        anns_by_image: Dict[int, list] = {}
        for ann in self.data.get("annotations", []):
            anns_by_image.setdefault(ann.get("image_id"), []).append(ann)

        policy = BadFilePolicy(skip_bad, f"COCO {split}")
        records: List[DetRecord] = []
        self.image_ids: List[int] = []
        self.num_dropped_boxes = 0
        images = sorted(self.data["images"], key=lambda im: im.get("id", -1))
        for im in tqdm(images, desc=f"COCO {split}", leave=False, disable=len(images) < 5000):
            try:
                rec = self._load_one(im, anns_by_image.get(im.get("id"), []), cat_to_label, include_crowd)
            except DatasetFileError as e:
                policy.handle(e)
                continue
            records.append(rec)
            self.image_ids.append(int(im["id"]))
        if self.num_dropped_boxes:
            logger.info("COCO %s: dropped %d degenerate boxes", split, self.num_dropped_boxes)
        super().__init__(f"coco_{split}", classes, records, policy)

    @staticmethod
    def _find_image_dir(root: Path, split: str) -> Path:
        folder = _IMAGE_FOLDER.get(split, split)
        candidates = [root / "images" / folder, root / folder]
        for c in candidates:
            if c.is_dir():
                return c
        raise DatasetFileError(candidates[0], f"image folder for split {split!r} not found "
                                              f"(also tried {candidates[1]}); pass image_dir=")

    def _load_one(self, im: dict, anns: list, cat_to_label: Dict[int, int], include_crowd: bool) -> DetRecord:
        try:
            image_id, width, height, file_name = int(im["id"]), int(im["width"]), int(im["height"]), im["file_name"]
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetFileError(self.annotation_file, f"malformed image entry {im!r} ({e})") from e
        img_path = self.image_dir / file_name
        if not img_path.is_file():
            raise DatasetFileError(img_path, "image does not exist")
        check_complete(img_path)
        boxes, labels, crowd = [], [], []
        for ann in anns:
            try:
                is_crowd = bool(ann.get("iscrowd", 0))
                if is_crowd and not include_crowd:
                    continue
                label = cat_to_label[ann["category_id"]]
                box = coco_box_to_xyxy(ann["bbox"], width, height)
            except (KeyError, TypeError, ValueError) as e:
                raise DatasetFileError(self.annotation_file,
                                       f"malformed annotation {ann.get('id')} of image {image_id} ({e!r})") from e
            if box is None:
                self.num_dropped_boxes += 1
                continue
            boxes.append(box)
            labels.append(label)
            crowd.append(is_crowd)
        # crowd regions reuse the 'difficult' flag: both mean "ignore in evaluation"
        return DetRecord(str(image_id), img_path, height, width, boxes, labels, crowd)
