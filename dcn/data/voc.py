"""PASCAL VOC detection reader (also reads the built-in synthetic dataset).

Layout: ``<root>/VOC<year>/{Annotations/<id>.xml, JPEGImages/<id>.jpg,
ImageSets/Main/<set>.txt}``. ``image_set`` joins parts with '+', e.g.
``'2007_trainval+2012_trainval'``; a part without a year (``'train'``) reads
``<root>`` itself as the VOC<year> folder, which is how the synthetic dataset
is laid out.

Own reader rather than ``gluoncv.data.VOCDetection`` because that one drops
unknown classes and invalid boxes with only a log line, fixes the class list on
the class, and never checks that the images exist.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from .base import DetectionDataset
from .image_io import check_complete, image_size
from .records import BadFilePolicy, DatasetFileError, DetRecord, PathLike

VOC_CLASSES: Tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor")

_YEAR_SET = re.compile(r"^(\d{4})_(.+)$")


def resolve_image_sets(root: PathLike, image_set: str, subdir: str = "Main") -> List[Tuple[Path, str]]:
    """'2007_trainval+2012_trainval' -> [(root/VOC2007, 'trainval'), (root/VOC2012, 'trainval')]."""
    root = Path(root)
    parts = []
    for part in image_set.split("+"):
        part = part.strip()
        m = _YEAR_SET.match(part)
        parts.append((root / f"VOC{m.group(1)}", m.group(2)) if m else (root, part))
    return parts


def read_id_list(path: Path) -> List[str]:
    if not path.is_file():
        raise DatasetFileError(path, "image-set list does not exist")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DatasetFileError(path, "image-set list is empty")
    return ids


def _check_box(path: Path, index: int, name: str, box: List[float]) -> None:
    """Finite, ordered coordinates (0-based here; the message shows the file's 1-based values)."""
    what = f"object {index} ({name!r})"
    for key, v in zip(("xmin", "ymin", "xmax", "ymax"), box):
        if not math.isfinite(v):
            raise DatasetFileError(path, f"{what}: {key} is {v + 1}, expected a finite pixel coordinate")
    for lo, hi, a, b in (("xmin", "xmax", box[0], box[2]), ("ymin", "ymax", box[1], box[3])):
        if b < a:
            raise DatasetFileError(path, f"{what}: {hi} {b + 1:g} < {lo} {a + 1:g}, expected {lo} <= {hi}")


def parse_voc_xml(path: Path, class_index: Dict[str, int]) -> Tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """(height, width, boxes, labels, difficult) from one VOC annotation.

    Boxes are converted from VOC's 1-based inclusive pixels to 0-based inclusive.
    """
    if not path.is_file():
        raise DatasetFileError(path, "annotation does not exist")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DatasetFileError(path, f"broken XML ({e})") from e
    try:
        size = root.find("size")
        width, height = int(float(size.findtext("width"))), int(float(size.findtext("height")))
        boxes, labels, difficult = [], [], []
        for obj in root.iter("object"):
            name = obj.findtext("name").strip().lower()
            if name not in class_index:
                raise DatasetFileError(path, f"unknown class {name!r}")
            bb = obj.find("bndbox")
            box = [float(bb.findtext(k)) - 1 for k in ("xmin", "ymin", "xmax", "ymax")]
            _check_box(path, len(boxes), name, box)
            diff = obj.findtext("difficult")
            boxes.append(box)
            labels.append(class_index[name])
            difficult.append(bool(int(diff)) if diff and diff.strip() else False)
    except DatasetFileError:
        raise
    except (AttributeError, TypeError, ValueError, OverflowError) as e:
        # AttributeError/TypeError: a required element is missing (find -> None); OverflowError: int(inf)
        raise DatasetFileError(path, f"malformed VOC annotation ({type(e).__name__}: {e})") from e
    if width <= 0 or height <= 0:
        raise DatasetFileError(path, f"invalid image size {width}x{height}")
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    bad = ((boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
           | (boxes[:, 2] > width - 1) | (boxes[:, 3] > height - 1))
    if bad.any():
        raise DatasetFileError(path, f"box {boxes[bad][0].tolist()} (0-based) outside the {width}x{height} image")
    return height, width, boxes, np.array(labels, np.int32), np.array(difficult, bool)


class VOCDetection(DetectionDataset):
    """VOC-layout detection dataset.

    Args:
        root: ``VOCdevkit`` folder (or the synthetic dataset folder).
        image_set: '+'-joined ``<year>_<set>`` or ``<set>`` parts.
        classes: class names in label order (``VOC_CLASSES`` or ``synthetic.CLASSES``).
        skip_bad: skip (and count) images whose annotation or image file is bad
            instead of raising.
        check_image_size: also read each image header and compare with the XML
            size (otherwise this is checked when the image is loaded).
    """

    def __init__(self, root: PathLike, image_set: str = "2007_trainval",
                 classes: Sequence[str] = VOC_CLASSES, skip_bad: bool = False,
                 check_image_size: bool = False) -> None:
        class_index = {c: i for i, c in enumerate(classes)}
        policy = BadFilePolicy(skip_bad, f"VOC {image_set}")
        records: List[DetRecord] = []
        for folder, set_name in resolve_image_sets(root, image_set):
            ids = read_id_list(folder / "ImageSets" / "Main" / f"{set_name}.txt")
            for image_id in tqdm(ids, desc=f"VOC {folder.name}/{set_name}", leave=False, disable=len(ids) < 2000):
                try:
                    records.append(self._load_one(folder, image_id, class_index, check_image_size))
                except DatasetFileError as e:
                    policy.handle(e)
        super().__init__(f"voc_{image_set}", classes, records, policy)

    @staticmethod
    def _load_one(folder: Path, image_id: str, class_index: Dict[str, int], check_image_size: bool) -> DetRecord:
        h, w, boxes, labels, difficult = parse_voc_xml(folder / "Annotations" / f"{image_id}.xml", class_index)
        img_path = folder / "JPEGImages" / f"{image_id}.jpg"
        if not img_path.is_file():
            raise DatasetFileError(img_path, "image does not exist")
        check_complete(img_path)
        if check_image_size and image_size(img_path) != (h, w):
            raise DatasetFileError(img_path, f"image size {image_size(img_path)} differs from annotation ({h}, {w})")
        return DetRecord(image_id, img_path, h, w, boxes, labels, difficult)
