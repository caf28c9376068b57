"""A reusable training loop around ``gluon.Trainer``; each task plugs in a forward closure and data.

The task supplies ``forward_fn(net, batch_on_one_device) -> loss`` or
``-> (loss, {name: value})``; the loop splits each batch over the devices,
records, back-propagates, steps the trainer, logs running means every
``frequent`` batches, writes metrics CSV / loss curve and a checkpoint per epoch.
Every RNG is reseeded with ``seed + epoch`` at the start of each epoch, so a run
resumed from epoch E sees the same data order and random draws as one that
never stopped.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import mxnet as mx
from mxnet import autograd, gluon
from tqdm import tqdm

from ..distributed.kvstore import sync_initial_params
from .checkpoint import (CheckpointError, checkpoint_path, find_last_checkpoint, list_checkpoints, load_checkpoint,
                         rng_state, save_checkpoint, seed_everything, verify_checkpoint)
from .devices import batch_size_of, split_batch
from .finite import check_finite_params
from .history import MetricHistory
from .metrics import MetricTracker, Scalar, format_metrics

logger = logging.getLogger(__name__)

ForwardResult = Union[mx.nd.NDArray, Tuple[mx.nd.NDArray, Mapping[str, Scalar]]]
ForwardFn = Callable[[gluon.Block, Any], ForwardResult]
DataSource = Union[Iterable, Callable[[int], Iterable]]


class TrainLoop:
    """Train ``net`` with ``trainer`` from ``begin_epoch`` to ``end_epoch`` (exclusive), checkpointing each epoch."""

    def __init__(self, net: gluon.Block, trainer: gluon.Trainer, forward_fn: ForwardFn, data: DataSource,
                 ctx: Sequence[mx.Context], output_dir: Union[str, Path], *, end_epoch: int,
                 prefix: str = "model", frequent: int = 20, seed: int = 0,
                 config: Optional[Dict[str, Any]] = None, normalize_grad_by_batch: bool = False,
                 split_fn: Callable[[Any, Sequence[mx.Context]], list] = split_batch,
                 progress: bool = True) -> None:
        self.net, self.trainer, self.forward_fn, self.data = net, trainer, forward_fn, data
        self.ctx = list(ctx)
        self.output_dir = Path(output_dir)
        self.end_epoch, self.prefix, self.frequent, self.seed = end_epoch, prefix, max(1, frequent), seed
        self.config = config
        self.normalize_grad_by_batch = normalize_grad_by_batch
        self.split_fn = split_fn
        self.progress = progress
        self.history = MetricHistory(self.output_dir)

    # --- resume ----------------------------------------------------------------------------
    def resume(self) -> Optional[int]:
        """Load the last complete checkpoint in the output folder; returns its epoch (None if there is none)."""
        ckpt = find_last_checkpoint(self.output_dir, self.prefix)
        if ckpt is None:
            logger.info("no checkpoint '%s-*.json' in %s; nothing to resume", self.prefix, self.output_dir)
            return None
        try:
            return self.load_epoch(ckpt.epoch)
        except CheckpointError as err:
            raise CheckpointError(f"{err}\n{self._fallback_hint(ckpt.epoch)}") from None

    def _fallback_hint(self, bad_epoch: int) -> str:
        """Where to continue from when the newest checkpoint is damaged: the newest older one that verifies."""
        for older in reversed([c for c in list_checkpoints(self.output_dir, self.prefix) if c.epoch < bad_epoch]):
            try:
                verify_checkpoint(older)
            except CheckpointError:
                continue
            return (f"--resume stops here rather than silently using an older epoch. The previous complete "
                    f"checkpoint is epoch {older.epoch} ({older.manifest_path.name}); to continue from it, run "
                    f"without --resume and with --set TRAIN.begin_epoch={older.epoch} (epochs after "
                    f"{older.epoch} are trained again and their files rewritten)")
        return "no older complete checkpoint verifies either: start over with --overwrite"

    def load_epoch(self, epoch: int) -> int:
        """Load the checkpoint written after ``epoch`` epochs; returns ``epoch``."""
        manifest = load_checkpoint(checkpoint_path(self.output_dir, self.prefix, epoch), self.net,
                                   self.trainer, self.ctx)
        if self.config is not None and manifest.get("config") not in (None, self.config):
            changed = sorted(_diff(manifest["config"], self.config))
            logger.warning("config differs from the checkpoint's in: %s", ", ".join(changed) or "?")
        return int(manifest["epoch"])

    # --- training --------------------------------------------------------------------------
    def run(self, begin_epoch: int = 0) -> MetricHistory:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.history.load(begin_epoch)
        for epoch in range(begin_epoch, self.end_epoch):
            means = self.train_one_epoch(epoch)
            if self.is_chief:
                save_checkpoint(self.output_dir, self.prefix, epoch + 1, self.net, self.trainer,
                                config=self.config, rng=rng_state(), metrics=means)
        return self.history

    @property
    def is_chief(self) -> bool:
        """Worker 0 of a distributed kvstore (or the only process): the one that writes files."""
        kv = getattr(self.trainer, "_kvstore", None)
        return kv is None or "dist" not in kv.type or kv.rank == 0

    @property
    def num_workers(self) -> int:
        """Workers whose gradients the kvstore sums (1 unless it is a dist_* store)."""
        kv = getattr(self.trainer, "_kvstore", None) or getattr(self.trainer, "_kvstore_params", {}).get("kvstore")
        return kv.num_workers if isinstance(kv, mx.kv.KVStore) and "dist" in kv.type else 1

    def _epoch_batches(self, epoch: int) -> Iterable:
        seed_everything(self.seed + epoch)
        if hasattr(self.data, "set_epoch"):
            self.data.set_epoch(epoch)
        if callable(self.data) and not hasattr(self.data, "__iter__"):
            return self.data(epoch)
        return self.data

    def train_one_epoch(self, epoch: int) -> Dict[str, float]:
        batches = self._epoch_batches(epoch)
        total = len(batches) if hasattr(batches, "__len__") else None
        tracker = MetricTracker()
        tic = win_tic = time.time()
        win_samples = nbatch = 0
        bar = tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False, disable=not self.progress,
                   dynamic_ncols=True)
        for nbatch, batch in enumerate(bar, start=1):
            values = self.train_step(batch)
            _check_finite(values, epoch, nbatch)
            tracker.update(values)
            win_samples += batch_size_of(batch)
            if nbatch % self.frequent == 0:
                check_finite_params(self.net, f"epoch {epoch} batch {nbatch}")
                window = tracker.window()
                speed = win_samples / max(time.time() - win_tic, 1e-9)
                logger.info("Epoch[%d] Batch [%d%s]\tSpeed: %.2f samples/sec\tlr=%.3e\t%s", epoch, nbatch,
                            f"/{total}" if total else "", speed, self.trainer.learning_rate,
                            format_metrics(window))
                progress = epoch + nbatch / total if total else epoch + 1.0
                self.history.add_batch({"progress": progress, **window})
                bar.set_postfix({k: f"{v:.4g}" for k, v in window.items()})
                tracker.reset_window()
                win_tic, win_samples = time.time(), 0
        bar.close()
        if nbatch == 0:
            raise RuntimeError(f"epoch {epoch}: the data source yielded no batches")
        check_finite_params(self.net, f"epoch {epoch} (end)")
        means = tracker.epoch()
        logger.info("Epoch[%d] done in %.1f s\t%s", epoch, time.time() - tic, format_metrics(means))
        self.history.add_epoch({"epoch": epoch + 1, "lr": self.trainer.learning_rate,
                                "time_s": time.time() - tic, **means})
        if self.is_chief:
            self.history.write()
        return means

    def train_step(self, batch: Any) -> Dict[str, float]:
        """One update on ``batch``: split over devices, forward+backward, ``trainer.step``."""
        parts = self.split_fn(batch, self.ctx)
        # dist_*: worker 0's parameters must reach every worker before its first forward (no-op otherwise)
        sync_initial_params(self.trainer, lambda: self.forward_fn(self.net, parts[0]))
        with autograd.record():
            outs = [_as_loss_and_metrics(self.forward_fn(self.net, part)) for part in parts]
        autograd.backward([loss for loss, _ in outs])
        # Sum over devices and workers (original rescale_grad=1.0) unless asked to average over the
        # batch of all workers (each worker's batch has the same size: equal shards).
        self.trainer.step(batch_size_of(batch) * self.num_workers if self.normalize_grad_by_batch else 1)
        merged: Dict[str, float] = {}
        for _, metrics in outs:
            for name, value in metrics.items():
                merged[name] = merged.get(name, 0.0) + _scalar(value) / len(outs)
        return merged


def _as_loss_and_metrics(out: ForwardResult) -> Tuple[mx.nd.NDArray, Mapping[str, Scalar]]:
    if isinstance(out, tuple):
        loss, metrics = out
        return loss, dict(metrics)
    return out, {"loss": out}


def _scalar(value: Scalar) -> float:
    if isinstance(value, mx.nd.NDArray):
        return float(value.mean().asscalar())
    return float(value)


def _check_finite(values: Mapping[str, float], epoch: int, nbatch: int) -> None:
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise FloatingPointError(f"epoch {epoch} batch {nbatch}: non-finite metrics {bad} "
                                 "(lower TRAIN.lr or check the data)")


def _diff(a: Any, b: Any, prefix: str = "") -> set:
    if isinstance(a, dict) and isinstance(b, dict):
        out = set()
        for k in set(a) | set(b):
            out |= _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return set() if a == b else {prefix}
