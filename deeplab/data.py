"""Segmentation datasets (synthetic, VOC 2012 + SBD, Cityscapes) and transforms from the config.

Training: resize the shorter side to ``SCALES[0]`` (longer side at most
``SCALES[1]``), mirrored copies when ``TRAIN.FLIP`` (the original doubles the
epoch), and a random ``CROP_HEIGHT x CROP_WIDTH`` crop when ``TRAIN.ENABLE_CROP``
(Cityscapes: 768x1024 out of 1024x2048; padding is labelled ignore).
"""
from __future__ import annotations

import logging
from typing import Tuple

import numpy as np

from dcn.config import Config
from dcn.data import CityscapesSegmentation, SegmentationDataset, VOCSegmentation
from dcn.data.batching import TransformedDataset
from dcn.data.seg_classes import segmentation_class_names
from dcn.data.transforms import SegmentationTransform, normalize, resize_image

logger = logging.getLogger(__name__)


def load_dataset(cfg: Config, train: bool) -> SegmentationDataset:
    """``dataset.image_set`` (train=True) or ``dataset.test_image_set``."""
    d = cfg.dataset
    image_set = d.image_set if train else d.test_image_set
    if d.dataset == "synthetic":
        from dcn.data.synthetic import ensure_synthetic, load_segmentation
        ensure_synthetic(d.dataset_path, d.num_images, seed=d.synthetic_seed)
        return load_segmentation(d.dataset_path, image_set, skip_bad=d.skip_bad_files)
    if d.dataset == "PascalVOC":
        return VOCSegmentation(d.dataset_path, image_set, sbd_root=d.sbd_path or None, skip_bad=d.skip_bad_files)
    if d.dataset == "CityScape":
        if d.annotation_prefix != "gtFine":
            raise ValueError(f"only gtFine Cityscapes annotations are read, got {d.annotation_prefix!r}")
        split = image_set[len("leftImg8bit_"):] if image_set.startswith("leftImg8bit_") else image_set
        return CityscapesSegmentation(d.dataset_path, split, skip_bad=d.skip_bad_files)
    raise ValueError(f"DeepLab does not read dataset {d.dataset!r}")


def class_names(cfg: Config) -> Tuple[str, ...]:
    return segmentation_class_names(cfg.dataset.dataset, cfg.dataset.NUM_CLASSES)


def check_num_classes(cfg: Config, ds: SegmentationDataset) -> None:
    if ds.num_classes != cfg.dataset.NUM_CLASSES:
        raise ValueError(f"dataset {ds.name} has {ds.num_classes} classes (background included where it has one), "
                         f"but dataset.NUM_CLASSES = {cfg.dataset.NUM_CLASSES}")


def train_transform(cfg: Config) -> SegmentationTransform:
    t = cfg.TRAIN
    short, max_size = cfg.SCALES
    crop = (t.CROP_HEIGHT, t.CROP_WIDTH) if t.ENABLE_CROP else None
    return SegmentationTransform(short, max_size, crop_hw=crop, pixel_means_bgr=cfg.network.PIXEL_MEANS,
                                 seed=cfg.default.seed)


def train_dataset(cfg: Config) -> TransformedDataset:
    ds = load_dataset(cfg, train=True)
    check_num_classes(cfg, ds)
    logger.info("training on %r (flip duplicates: %s, crop: %s)", ds, cfg.TRAIN.FLIP, cfg.TRAIN.ENABLE_CROP)
    return TransformedDataset(ds, train_transform(cfg), flip_duplicate=cfg.TRAIN.FLIP)


def prepare_image(img_bgr: np.ndarray, scale: Tuple[int, int], pixel_means_bgr) -> np.ndarray:
    """Test-time input: resized (shorter side ``scale[0]``, longer at most ``scale[1]``) float32 CHW."""
    img, _ = resize_image(np.ascontiguousarray(img_bgr), int(scale[0]), int(scale[1]))
    return normalize(img, np.asarray(pixel_means_bgr, np.float32))
