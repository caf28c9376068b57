"""Reading images and label maps, with errors that name the offending file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .records import DatasetFileError, PathLike


# OpenCV refuses to decode more pixels than this (CV_IO_MAX_IMAGE_PIXELS, default 2^30)
MAX_IMAGE_PIXELS = int(os.environ.get("CV_IO_MAX_IMAGE_PIXELS", 1 << 30))
_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIGNATURE, _PNG_IEND = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def check_complete(path: PathLike) -> None:
    """Raise if a JPEG or PNG file is cut short (its end marker missing): libjpeg would fill the rest grey
    with only a warning on stderr. Reads the first and last bytes only."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, path.stat().st_size - 1024))
            tail = f.read().rstrip(b"\x00\r\n\t ")  # padding some writers append
    except OSError as e:
        raise DatasetFileError(path, f"cannot read image ({e})") from e
    if head.startswith(_JPEG_SOI) and not tail.endswith(_JPEG_EOI):
        raise DatasetFileError(path, "truncated JPEG: the end-of-image marker (FF D9) is missing "
                                     "(cut off while copying or downloading?)")
    if head.startswith(_PNG_SIGNATURE) and _PNG_IEND not in tail[-64:]:
        raise DatasetFileError(path, "truncated PNG: the IEND chunk is missing")


def image_size(path: PathLike) -> Tuple[int, int]:
    """(height, width) from the file header only (cheap: no pixel decoding)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(path, "file does not exist")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError as e:
        raise DatasetFileError(path, f"image too large to decode ({e})") from e
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetFileError(path, f"cannot read image header ({e})") from e
    return height, width


def load_image(path: PathLike, expected_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """BGR uint8 (H, W, 3) image, as cv2 and the original pipeline use."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(path, "image does not exist")
    check_complete(path)
    height, width = image_size(path)
    if height * width > MAX_IMAGE_PIXELS:
        raise DatasetFileError(path, f"image is {width}x{height} = {height * width} pixels, more than the "
                                     f"{MAX_IMAGE_PIXELS} OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS); downscale it")
    try:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as e:
        raise DatasetFileError(path, f"cannot decode image ({str(e).strip().splitlines()[-1]})") from e
    if img is None:
        raise DatasetFileError(path, "cannot decode image")
    if expected_hw is not None and img.shape[:2] != tuple(expected_hw):
        raise DatasetFileError(path, f"image is {img.shape[0]}x{img.shape[1]}, "
                                     f"annotation says {expected_hw[0]}x{expected_hw[1]}")
    return img


def load_label_png(path: PathLike, expected_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """uint8 (H, W) class-index map. PIL keeps palette indices (cv2 would
    expand a VOC palette PNG into colours)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(path, "label file does not exist")
    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L", "I", "I;16"):
                raise DatasetFileError(path, f"label PNG must be palette or grayscale, got mode {im.mode}")
            label = np.array(im)
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetFileError(path, f"cannot decode label image ({e})") from e
    _check_hw(path, label, expected_hw)
    return label.astype(np.uint8) if label.dtype != np.uint8 else label


def load_sbd_mat(path: PathLike, expected_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """uint8 (H, W) class map from an SBD ``cls/*.mat`` (``GTcls.Segmentation``)."""
    import scipy.io  # lazy: only the SBD reader needs scipy

    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(path, "label file does not exist")
    try:
        mat = scipy.io.loadmat(str(path), mat_dtype=True, squeeze_me=True, struct_as_record=False)
        label = np.asarray(mat["GTcls"].Segmentation)
    except Exception as e:  # loadmat raises many types on corrupt files
        raise DatasetFileError(path, f"cannot read SBD GTcls.Segmentation ({type(e).__name__}: {e})") from e
    if label.ndim != 2:
        raise DatasetFileError(path, f"SBD segmentation has shape {label.shape}, expected 2-D")
    _check_hw(path, label, expected_hw)
    return label.astype(np.uint8)


def _check_hw(path: Path, label: np.ndarray, expected_hw: Optional[Tuple[int, int]]) -> None:
    if expected_hw is not None and label.shape[:2] != tuple(expected_hw):
        raise DatasetFileError(path, f"label is {label.shape[0]}x{label.shape[1]}, "
                                     f"image is {expected_hw[0]}x{expected_hw[1]}")
