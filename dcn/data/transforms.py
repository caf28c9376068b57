"""Image/label transforms for detection and segmentation (numpy + cv2).

Conventions of the original codebase: resize so the shorter side is ``short``
unless the longer side would exceed ``max_size`` (then the longer side is
``max_size``), bilinear; images are read BGR and fed RGB minus ``PIXEL_MEANS``
(given in BGR order, no std division); boxes are 0-based inclusive, so a
horizontal flip maps ``x -> W - 1 - x``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from .records import DetRecord

PIXEL_MEANS_BGR = np.array([103.06, 115.90, 123.15], np.float32)

# (short, max_size) per task, from the original experiment configs
DET_SCALE = (600, 1000)
VOC_SEG_SCALE = (360, 600)


def compute_scale(height: int, width: int, short: int, max_size: int) -> float:
    scale = float(short) / min(height, width)
    if np.round(scale * max(height, width)) > max_size:
        scale = float(max_size) / max(height, width)
    return scale


def resize_image(img: np.ndarray, short: int, max_size: int) -> Tuple[np.ndarray, float]:
    """Returns (resized image, scale)."""
    scale = compute_scale(img.shape[0], img.shape[1], short, max_size)
    if scale == 1.0:
        return img, scale
    if min(round(img.shape[0] * scale), round(img.shape[1] * scale)) < 1:
        raise ValueError(f"a {img.shape[1]}x{img.shape[0]} image resized by {scale:.4g} (short side {short}, "
                         f"max {max_size}) would be under 1 pixel high or wide")
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR), scale


def resize_label(label: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour, so class ids and the ignore value are never blended."""
    if label.shape[:2] == (height, width):
        return label
    return cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)


def flip_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    """Mirror inclusive x1y1x2y2 boxes in an image ``width`` pixels wide."""
    out = boxes.copy()
    out[:, 0] = width - 1 - boxes[:, 2]
    out[:, 2] = width - 1 - boxes[:, 0]
    return out


def normalize(img_bgr: np.ndarray, pixel_means_bgr: np.ndarray = PIXEL_MEANS_BGR) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> float32 (3, H, W) RGB minus the means."""
    rgb = img_bgr[:, :, ::-1].astype(np.float32) - np.asarray(pixel_means_bgr, np.float32)[::-1]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def pad_to_stride(chw: np.ndarray, stride: int, value: float = 0.0) -> np.ndarray:
    """Zero-pad bottom/right so H and W are multiples of ``stride`` (FPN: 32)."""
    if stride <= 1:
        return chw
    h, w = chw.shape[-2:]
    ph, pw = -h % stride, -w % stride
    if ph == 0 and pw == 0:
        return chw
    pad = [(0, 0)] * (chw.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(chw, pad, constant_values=value)


def random_crop(img: np.ndarray, label: np.ndarray, crop_hw: Tuple[int, int], rng: np.random.Generator,
                ignore_label: int = 255) -> Tuple[np.ndarray, np.ndarray]:
    """Crop image and label together; pads (image 0 after normalisation is the
    mean colour, label ``ignore_label``) when the image is smaller than the crop."""
    ch, cw = crop_hw
    h, w = label.shape
    ph, pw = max(ch - h, 0), max(cw - w, 0)
    if ph or pw:
        img = np.pad(img, [(0, 0), (0, ph), (0, pw)], constant_values=0)
        label = np.pad(label, [(0, ph), (0, pw)], constant_values=ignore_label)
        h, w = label.shape
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    return img[:, y0:y0 + ch, x0:x0 + cw], label[y0:y0 + ch, x0:x0 + cw]


@dataclass
class DetSample:
    """Network-ready detection sample (numpy; see ``batching`` for mx.nd)."""

    image_id: str
    data: np.ndarray  # float32 (3, H, W), RGB minus means
    im_info: np.ndarray  # float32 (3,): resized height, width, scale (before stride padding)
    boxes: np.ndarray  # float32 (K, 4) in resized pixels
    labels: np.ndarray  # int32 (K,)
    difficult: np.ndarray  # bool (K,)
    flipped: bool


class DetectionTransform:
    """Resize (+ optional flip) a (BGR image, DetRecord) pair into a DetSample.

    ``flip`` may be forced per call (the original duplicates the dataset with
    flipped copies, see ``batching.TransformedDataset``); otherwise it is drawn
    with probability ``flip_prob`` from ``rng``.
    """

    def __init__(self, short: int = DET_SCALE[0], max_size: int = DET_SCALE[1], flip_prob: float = 0.0,
                 pixel_means_bgr: np.ndarray = PIXEL_MEANS_BGR, stride: int = 0,
                 drop_difficult: bool = False, seed: Optional[int] = None) -> None:
        self.short, self.max_size = short, max_size
        self.flip_prob = flip_prob
        self.pixel_means = np.asarray(pixel_means_bgr, np.float32)
        self.stride = stride
        self.drop_difficult = drop_difficult
        self.rng = np.random.default_rng(seed)

    def __call__(self, img: np.ndarray, rec: DetRecord, flip: Optional[bool] = None) -> DetSample:
        if self.drop_difficult:
            rec = rec.without_difficult()
        if flip is None:
            flip = bool(self.flip_prob > 0 and self.rng.random() < self.flip_prob)
        boxes = rec.boxes
        if flip:
            img = img[:, ::-1]
            boxes = flip_boxes(boxes, img.shape[1])
        img, scale = resize_image(np.ascontiguousarray(img), self.short, self.max_size)
        data = pad_to_stride(normalize(img, self.pixel_means), self.stride)
        im_info = np.array([img.shape[0], img.shape[1], scale], np.float32)
        return DetSample(rec.image_id, data, im_info, (boxes * scale).astype(np.float32), rec.labels.copy(),
                         rec.difficult.copy(), flip)


class SegmentationTransform:
    """Resize (+ flip, + crop) a (BGR image, label) pair -> (float32 CHW, int32 HW label)."""

    def __init__(self, short: int = VOC_SEG_SCALE[0], max_size: int = VOC_SEG_SCALE[1], flip_prob: float = 0.0,
                 crop_hw: Optional[Tuple[int, int]] = None, ignore_label: int = 255,
                 pixel_means_bgr: np.ndarray = PIXEL_MEANS_BGR, seed: Optional[int] = None) -> None:
        self.short, self.max_size = short, max_size
        self.flip_prob = flip_prob
        self.crop_hw = crop_hw
        self.ignore_label = ignore_label
        self.pixel_means = np.asarray(pixel_means_bgr, np.float32)
        self.rng = np.random.default_rng(seed)

    def __call__(self, img: np.ndarray, label: np.ndarray, flip: Optional[bool] = None
                 ) -> Tuple[np.ndarray, np.ndarray]:
        if flip is None:
            flip = bool(self.flip_prob > 0 and self.rng.random() < self.flip_prob)
        if flip:
            img, label = img[:, ::-1], label[:, ::-1]
        img, _ = resize_image(np.ascontiguousarray(img), self.short, self.max_size)
        label = resize_label(np.ascontiguousarray(label), img.shape[0], img.shape[1])
        data = normalize(img, self.pixel_means)
        if self.crop_hw is not None:
            data, label = random_crop(data, label, self.crop_hw, self.rng, self.ignore_label)
        return np.ascontiguousarray(data), np.ascontiguousarray(label).astype(np.int32)
