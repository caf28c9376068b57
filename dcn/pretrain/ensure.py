"""``ensure_pretrained``: the synthetic-pretrained backbone file, trained on first use (under a file lock)."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Optional, Union

from .settings import (PretrainSettings, default_prefix, default_workers, is_complete, params_path, read_info,
                       settings_from_config)

try:
    import fcntl
except ImportError:  # not on Windows; pretraining is then unguarded
    fcntl = None

logger = logging.getLogger(__name__)

# the basename of a default prefix: synthetic_resnet_v1_18_w4
SYNTHETIC_PREFIX = re.compile(r"^synthetic_resnet_v1_(\d+)_w(\d+)$")


def _threads() -> int:
    try:
        return int(os.environ.get("OMP_NUM_THREADS", "")) or 1
    except ValueError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def ensure_pretrained(cfg_or_depth: Union[int, Any], prefix: Optional[str] = None, *,
                      width_divisor: Optional[int] = None, workers: Optional[int] = None, progress: bool = False,
                      **changes: Any) -> Path:
    """``PREFIX-0000.params`` if it is complete with these settings (its JSON matches), else pretrain it.

    ``cfg_or_depth``: a task config (its ``network.depth``, width divisor and ``PIXEL_MEANS``; ``prefix``
    defaults to its ``network.pretrained``) or a ResNet depth (``width_divisor`` default 4). ``changes``:
    other :class:`PretrainSettings` fields (epochs, images_per_epoch, lr, seed ...). Concurrent callers wait
    on ``PREFIX.lock`` for one training.
    """
    if isinstance(cfg_or_depth, int):
        settings = PretrainSettings(depth=cfg_or_depth, width_divisor=width_divisor or 4).with_(**changes)
    else:
        settings = settings_from_config(cfg_or_depth, width_divisor=width_divisor, **changes)
        prefix = prefix or cfg_or_depth.network.pretrained or None
    settings.validate()
    prefix = str(prefix or default_prefix(settings.depth, settings.width_divisor))
    lock_path = Path(f"{prefix}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(prefix, settings):
            logger.debug("pretrained backbone %s is complete; reusing it", params_path(prefix))
            return params_path(prefix)
        if params_path(prefix).is_file() and read_info(prefix) is None:  # e.g. a released MSRA model
            raise FileExistsError(f"{params_path(prefix)} exists and was not written by dcn.pretrain (no "
                                  f"{Path(prefix).name}-0000.json beside it); not overwriting it")
        from .train import pretrain  # MXNet: imported by the caller already, or now
        logger.info("pretrained backbone %s is missing or was made with other settings; pretraining it",
                    params_path(prefix))
        pretrain(settings, prefix, resume=True, restart_if_different=True, progress=progress,
                 workers=default_workers(_threads()) if workers is None else workers,
                 command=["ensure_pretrained", prefix])
        return params_path(prefix)


def ensure_for_prefix(prefix: str, epoch: int = 0, **changes: Any) -> Optional[Path]:
    """For ``network.pretrained`` loading: when ``prefix`` is a missing default synthetic prefix
    (``.../synthetic_resnet_v1_{depth}_w{div}``, epoch 0), pretrain it with the default settings and return
    its file; an existing file is left as it is (whatever it was trained with); None for other prefixes."""
    m = SYNTHETIC_PREFIX.match(Path(str(prefix)).name)
    if m is None or epoch != 0:
        return None
    if params_path(prefix).is_file():
        info = read_info(prefix) or {}
        logger.info("synthetic pretrained backbone %s (held-out top-1 %s)", params_path(prefix), info.get("top1"))
        return params_path(prefix)
    return ensure_pretrained(int(m.group(1)), prefix, width_divisor=int(m.group(2)), **changes)
