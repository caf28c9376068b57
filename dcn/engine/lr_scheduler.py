"""The original's WarmupMultiFactorScheduler, as a stateless ``mx.lr_scheduler.LRScheduler``.

Semantics (lib/utils/lr_scheduler.py of the MSRA code): for update ``n``
(MXNet counts from 1), ``lr = warmup_lr`` while ``warmup and n < warmup_step``
(a constant, not a ramp), else ``base_lr * factor ** #{s in step : n > s}``.
Unlike the original it keeps no counters, so the value depends only on ``n``:
a resumed run (whose optimizer carries ``num_update``) sees the same rates.
"""
from __future__ import annotations

import logging
from typing import List, Sequence

from mxnet.lr_scheduler import LRScheduler

logger = logging.getLogger(__name__)


class WarmupMultiFactorScheduler(LRScheduler):
    def __init__(self, step: Sequence[int], factor: float = 1.0, warmup: bool = False,
                 warmup_lr: float = 0.0, warmup_step: int = 0, base_lr: float = 0.01) -> None:
        super().__init__(base_lr=base_lr)
        step = [int(s) for s in step]
        if any(b <= a for a, b in zip(step, step[1:])):
            raise ValueError(f"schedule steps must be increasing, got {step}")
        if any(s < 1 for s in step):
            raise ValueError(f"schedule steps must be >= 1 update, got {step}")
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor must be in (0, 1] so the lr decreases, got {factor}")
        self.step: List[int] = step
        self.factor = float(factor)
        self.warmup = bool(warmup)
        self.warmup_lr = float(warmup_lr)
        self.warmup_step = int(warmup_step)
        self._last_logged = None

    def __call__(self, num_update: int) -> float:
        if self.warmup and num_update < self.warmup_step:
            return self.warmup_lr
        k = sum(1 for s in self.step if num_update > s)
        if k != self._last_logged:  # once per change, like the original's log line
            if self._last_logged is not None:
                logger.info("Update[%d]: learning rate now %.5e", num_update, self.base_lr * self.factor ** k)
            self._last_logged = k
        return self.base_lr * self.factor ** k


def epochs_to_updates(epochs: Sequence[float], num_samples: int, samples_per_update: int) -> List[int]:
    """``int(epoch * num_samples / samples_per_update)`` per epoch, as the original computed lr_iters.

    ``num_samples`` counts the epoch's images (flipped copies included);
    ``samples_per_update`` is images per optimizer step over all devices.
    """
    if num_samples <= 0 or samples_per_update <= 0:
        raise ValueError("num_samples and samples_per_update must be positive")
    return [int(e * num_samples / samples_per_update) for e in epochs]


def build_lr_scheduler(train_cfg, num_samples: int, samples_per_update: int) -> WarmupMultiFactorScheduler:
    """Scheduler from a ``TrainConfig`` (lr, lr_step in epochs, lr_factor, warmup*)."""
    steps = epochs_to_updates(train_cfg.lr_step, num_samples, samples_per_update)
    return WarmupMultiFactorScheduler(steps, train_cfg.lr_factor, train_cfg.warmup, train_cfg.warmup_lr,
                                      train_cfg.warmup_step, base_lr=train_cfg.lr)
