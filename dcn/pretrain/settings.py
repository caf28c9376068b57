"""What a pretraining run is (everything that changes its result), its default file prefix, and
the JSON written beside the parameter file; no MXNet here, so the CLI can set threads first."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from dcn.config.symbol import width_divisor
from dcn.data import synthetic_classes as SC

from .data import steps_per_epoch

DEPTHS = (18, 34, 50, 101, 152)  # dcn.modeling.backbones.resnet_v1.DEPTHS (that module imports MXNet)
PIXEL_MEANS_BGR = (103.06, 115.90, 123.15)
DEFAULT_PREFIX = "./model/pretrained_model/synthetic_resnet_v1_{depth}_w{div}"
FORMAT = 1  # of the JSON


@dataclass(frozen=True)
class PretrainSettings:
    depth: int = 18
    width_divisor: int = 4
    epochs: int = 8
    images_per_epoch: int = 25600     # fresh crops each epoch (train indices epoch*N ...)
    repeats: int = 2                  # passes over each pool of fresh crops (dcn.pretrain.data)
    batch_size: int = 64
    lr: float = 0.1                   # peak, after a linear warmup; cosine decay to 0 (per step)
    warmup_steps: int = 300
    momentum: float = 0.9
    wd: float = 1e-4
    seed: int = 0
    crop: int = SC.CROP
    val_images: int = 2100            # fixed held-out split ("val" indices 0 .. N-1, 100 per class)
    pixel_means: Tuple[float, float, float] = PIXEL_MEANS_BGR  # BGR, as network.PIXEL_MEANS

    def validate(self) -> "PretrainSettings":
        """Raise ValueError naming the bad setting; returns self."""
        if self.depth not in DEPTHS:
            raise ValueError(f"depth must be one of {list(DEPTHS)}, got {self.depth}")
        if self.width_divisor < 1 or 64 % self.width_divisor:
            raise ValueError(f"width divisor must divide 64 (the stem width), got {self.width_divisor}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch size must be >= 2 (BatchNorm uses batch statistics), got {self.batch_size}")
        if self.images_per_epoch < self.batch_size:
            raise ValueError(f"images per epoch ({self.images_per_epoch}) must be >= the batch size "
                             f"({self.batch_size})")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.crop < 32:
            raise ValueError(f"crop must be >= 32 px (ResNet stride 32), got {self.crop}")
        if self.val_images < 1:
            raise ValueError(f"val images must be >= 1, got {self.val_images}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup steps must be >= 0, got {self.warmup_steps}")
        return self

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.images_per_epoch, self.batch_size, self.repeats)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["pixel_means"] = [float(v) for v in self.pixel_means]
        d["generator_version"] = SC.GENERATOR_VERSION
        d["classes"] = list(SC.CLASSES)
        return d

    def with_(self, **changes: Any) -> "PretrainSettings":
        """A copy with the non-None ``changes``."""
        known = {f.name for f in fields(self)}
        bad = set(changes) - known
        if bad:
            raise ValueError(f"unknown pretraining settings {sorted(bad)}; known: {sorted(known)}")
        return replace(self, **{k: (tuple(v) if k == "pixel_means" else v)
                                for k, v in changes.items() if v is not None})


def settings_from_config(cfg, **changes: Any) -> PretrainSettings:
    """The backbone a task config builds (``network.depth``, the task's width divisor, its PIXEL_MEANS)."""
    return PretrainSettings(depth=cfg.network.depth, width_divisor=width_divisor(cfg),
                            pixel_means=tuple(float(v) for v in cfg.network.PIXEL_MEANS)).with_(**changes)


def default_workers(threads: int) -> int:
    """Renderer processes for a CPU budget of ``threads`` cores: rendering a crop costs about as much as
    training on it (ResNet-18/4), so with two cores one renders and one trains."""
    return min(2, max(0, threads // 2))


def default_prefix(depth: int, width_divisor: int) -> str:
    return DEFAULT_PREFIX.format(depth=depth, div=width_divisor)


def params_path(prefix: str) -> Path:
    """``PREFIX-0000.params``: the original models' name, loaded with ``pretrained_epoch: 0``."""
    return Path(f"{prefix}-0000.params")


def info_path(prefix: str) -> Path:
    return Path(f"{prefix}-0000.json")


def checkpoint_dir(prefix: str) -> Path:
    return Path(f"{prefix}-checkpoints")


def read_info(prefix: str) -> Optional[Dict[str, Any]]:
    try:
        info = json.loads(info_path(prefix).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_complete(prefix: str, settings: PretrainSettings) -> bool:
    """The parameter file exists and its JSON records exactly these settings."""
    info = read_info(prefix)
    return (params_path(prefix).is_file() and info is not None and info.get("format") == FORMAT
            and info.get("settings") == settings.to_dict())
