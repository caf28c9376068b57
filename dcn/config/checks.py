"""Cross-field checks the types alone cannot express (raised as ConfigError naming the key)."""
from __future__ import annotations

import re
from typing import List

from .errors import ConfigError
from .schema import Config


def _need(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(message, key)


def _length(values: List, n: int, key: str) -> None:
    _need(len(values) == n, key, f"expected {n} values, got {len(values)}")


def _unit(x: float, key: str) -> None:
    _need(0.0 <= x <= 1.0, key, f"must be in [0, 1], got {x}")


def check(cfg: Config) -> None:
    """Raise ConfigError on the first inconsistent value."""
    _length(cfg.SCALES, 2, "SCALES")
    _need(min(cfg.SCALES) > 0, "SCALES", "scales must be positive")
    for i, s in enumerate(cfg.TEST_SCALES):
        _length(s, 2, f"TEST_SCALES[{i}]")
    _need(len(set(cfg.gpus)) == len(cfg.gpus) and all(g >= 0 for g in cfg.gpus), "gpus",
          "GPU ids must be distinct and >= 0")
    _need(cfg.default.frequent >= 1, "default.frequent", "must be >= 1")

    net = cfg.network
    _length(net.PIXEL_MEANS, 3, "network.PIXEL_MEANS")
    _need(net.deformable_groups >= 1, "network.deformable_groups", "must be >= 1")
    _need(len(net.ANCHOR_SCALES) > 0 and len(net.ANCHOR_RATIOS) > 0, "network.ANCHOR_SCALES",
          "anchor scales and ratios must be non-empty")
    _need(len(net.RPN_FEAT_STRIDE) > 0, "network.RPN_FEAT_STRIDE", "must be non-empty")
    _need(all(s > 0 for s in net.ANCHOR_SCALES) and all(r > 0 for r in net.ANCHOR_RATIOS), "network.ANCHOR_SCALES",
          "anchor scales and ratios must be > 0")
    _need(all(s > 0 for s in net.RPN_FEAT_STRIDE), "network.RPN_FEAT_STRIDE", "strides must be > 0")
    _need(not net.pretrained or net.norm == "frozen_bn", "network.norm",
          f"a pretrained backbone (network.pretrained) brings BatchNorm statistics to freeze: use frozen_bn, "
          f"got {net.norm}")
    for name in ("FIXED_PARAMS", "FIXED_PARAMS_SHARED"):
        for i, pattern in enumerate(getattr(net, name)):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"invalid regular expression {pattern!r}: {exc}",
                                  f"network.{name}[{i}]") from None

    _need(cfg.dataset.NUM_CLASSES >= 2, "dataset.NUM_CLASSES", "must be >= 2 (background + 1 class)")
    _need(cfg.dataset.num_images >= 2, "dataset.num_images", "must be >= 2 (train and val both need an image)")

    tr = cfg.TRAIN
    _need(tr.lr > 0, "TRAIN.lr", "must be > 0")
    _need(0 < tr.lr_factor <= 1, "TRAIN.lr_factor", "must be in (0, 1]")
    _need(all(b > a for a, b in zip(tr.lr_step, tr.lr_step[1:])), "TRAIN.lr_step", "must be increasing")
    _need(all(s > 0 for s in tr.lr_step), "TRAIN.lr_step", "epochs must be > 0")
    _need(tr.warmup_step >= 0, "TRAIN.warmup_step", "must be >= 0")
    _need(0 <= tr.begin_epoch <= tr.end_epoch, "TRAIN.end_epoch", "need 0 <= begin_epoch <= end_epoch")
    _need(tr.end_epoch >= 1, "TRAIN.end_epoch", "must be >= 1 (0 trains nothing and saves no checkpoint)")
    _need(0 <= tr.momentum < 1, "TRAIN.momentum", f"must be in [0, 1), got {tr.momentum}")
    _need(tr.wd >= 0, "TRAIN.wd", f"must be >= 0, got {tr.wd}")
    _need(not tr.warmup or tr.warmup_lr > 0, "TRAIN.warmup_lr", "must be > 0 when TRAIN.warmup is true")
    _need(all(s > 0 for s in tr.BBOX_STDS), "TRAIN.BBOX_STDS", "must be > 0 (box targets are divided by them)")
    _need(tr.BATCH_IMAGES >= 1, "TRAIN.BATCH_IMAGES", "must be >= 1")
    _need(tr.BATCH_ROIS == -1 or tr.BATCH_ROIS > 0, "TRAIN.BATCH_ROIS", "must be -1 (all) or > 0")
    # The original silently trained with a negative loss scale in this case.
    _need(tr.BATCH_ROIS > 0 or tr.ENABLE_OHEM, "TRAIN.BATCH_ROIS", "-1 (all RoIs) needs ENABLE_OHEM: true")
    _need(not tr.ENABLE_OHEM or tr.BATCH_ROIS_OHEM > 0, "TRAIN.BATCH_ROIS_OHEM", "must be > 0 with OHEM")
    for name in ("FG_FRACTION", "FG_THRESH", "BG_THRESH_HI", "BG_THRESH_LO", "RPN_FG_FRACTION",
                 "RPN_POSITIVE_OVERLAP", "RPN_NEGATIVE_OVERLAP", "RPN_NMS_THRESH", "BBOX_REGRESSION_THRESH"):
        _unit(getattr(tr, name), f"TRAIN.{name}")
    _need(tr.BG_THRESH_LO <= tr.BG_THRESH_HI, "TRAIN.BG_THRESH_LO", "must be <= BG_THRESH_HI")
    for name in ("BBOX_WEIGHTS", "BBOX_MEANS", "BBOX_STDS", "RPN_BBOX_WEIGHTS"):
        _length(getattr(tr, name), 4, f"TRAIN.{name}")

    te = cfg.TEST
    for name in ("NMS", "RPN_NMS_THRESH", "PROPOSAL_NMS_THRESH", "BBOX_AVERAGING_THRESH"):
        _unit(getattr(te, name), f"TEST.{name}")
    _need(te.max_per_image >= 0, "TEST.max_per_image", "must be >= 0")
    _need(te.SOFTNMS_THRESH > 0, "TEST.SOFTNMS_THRESH", "soft-NMS sigma must be > 0")

