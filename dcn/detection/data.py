"""Detection datasets for the entry points (synthetic, PASCAL VOC, COCO) from the config."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from dcn.config import Config
from dcn.data import COCODetection, DetectionDataset, VOCDetection
from dcn.data.batching import TransformedDataset
from dcn.data.transforms import DetectionTransform

from .proposals import ProposalDataset

logger = logging.getLogger(__name__)


def load_dataset(cfg: Config, train: bool) -> DetectionDataset:
    """``dataset.image_set`` (train=True) or ``dataset.test_image_set``."""
    d = cfg.dataset
    image_set = d.image_set if train else d.test_image_set
    if d.dataset == "synthetic":
        from dcn.data.synthetic import ensure_synthetic, load_detection
        ensure_synthetic(d.dataset_path, d.num_images, seed=d.synthetic_seed)
        return load_detection(d.dataset_path, image_set, skip_bad=d.skip_bad_files)
    if d.dataset == "PascalVOC":
        return VOCDetection(d.dataset_path, image_set, skip_bad=d.skip_bad_files)
    if d.dataset == "coco":
        parts = [COCODetection(Path(d.dataset_path), s, skip_bad=d.skip_bad_files) for s in image_set.split("+")]
        if len(parts) > 1:
            raise NotImplementedError("several COCO image sets at once are not supported here")
        return parts[0]
    raise ValueError(f"dataset.dataset: the detectors do not read {d.dataset!r}")


def class_names(cfg: Config) -> Tuple[str, ...]:
    d = cfg.dataset
    if d.dataset == "synthetic":
        from dcn.data.synthetic import CLASSES
        return tuple(CLASSES)
    if d.dataset == "PascalVOC":
        from dcn.data import VOC_CLASSES
        return tuple(VOC_CLASSES)
    return tuple(f"class{i}" for i in range(1, d.NUM_CLASSES))


def make_transform(cfg: Config, train: bool, scale=None) -> DetectionTransform:
    short, max_size = scale or cfg.SCALES
    return DetectionTransform(short, max_size, pixel_means_bgr=cfg.network.PIXEL_MEANS,
                              stride=cfg.network.IMAGE_STRIDE, drop_difficult=train)


def train_dataset(cfg: Config, proposals: Optional[Dict[str, np.ndarray]] = None) -> TransformedDataset:
    """Training images (``TRAIN.FLIP``: doubled with mirrored copies); with ``proposals`` (precomputed,
    per image id) the items are ``(DetSample, proposals)`` (``dcn.detection.proposals.ProposalDataset``)."""
    ds = load_dataset(cfg, train=True)
    if ds.num_classes + 1 != cfg.dataset.NUM_CLASSES:
        raise ValueError(f"dataset has {ds.num_classes} classes + background, but dataset.NUM_CLASSES = "
                         f"{cfg.dataset.NUM_CLASSES}")
    logger.info("training on %r (flip duplicates: %s, precomputed proposals: %s)", ds, cfg.TRAIN.FLIP,
                proposals is not None)
    transform = make_transform(cfg, train=True)
    if proposals is not None:
        return ProposalDataset(ds, transform, proposals, flip_duplicate=cfg.TRAIN.FLIP)
    return TransformedDataset(ds, transform, flip_duplicate=cfg.TRAIN.FLIP)
