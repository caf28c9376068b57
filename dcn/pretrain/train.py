"""The pretraining loop: SGD + warmup/cosine on fresh synthetic crops, a resumable checkpoint per epoch,
held-out top-1 each epoch, and the final ``PREFIX-0000.params`` (original MSRA naming) + JSON."""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from tqdm import tqdm

from dcn.data import synthetic_classes as SC
from dcn.engine.checkpoint import (find_last_checkpoint, list_checkpoints, load_checkpoint, read_manifest,
                                   save_checkpoint, seed_everything)
from dcn.utils.fileio import atomic_write_text, sha256_file

from .data import AUG_STREAM, CropRenderer, epoch_pools, pool_batches, to_input
from .model import Classifier, NonFiniteWeightsError, check_finite, save_original
from .settings import FORMAT, PretrainSettings, checkpoint_dir, info_path, params_path

logger = logging.getLogger(__name__)

CKPT_PREFIX = "pretrain"
LOG_EVERY = 50  # steps between reads of the running loss (each read waits for the engine)
EVAL_BATCH = 300


class WarmupCosine(mx.lr_scheduler.LRScheduler):
    """Linear warmup to ``base_lr`` over ``warmup`` updates, then cosine to 0 at ``total``; stateless in the
    update count, so a resumed optimizer (which carries ``num_update``) continues the same curve."""

    def __init__(self, total: int, warmup: int, base_lr: float):
        super().__init__(base_lr=base_lr)
        self.total, self.warmup = max(1, int(total)), max(0, min(int(warmup), int(total) - 1))

    def __call__(self, num_update: int) -> float:
        if num_update <= self.warmup:
            return self.base_lr * num_update / max(1, self.warmup)
        t = min(1.0, (num_update - self.warmup) / max(1, self.total - self.warmup))
        return 0.5 * self.base_lr * (1.0 + math.cos(math.pi * t))


def evaluate(net: gluon.Block, x: np.ndarray, y: np.ndarray, ctx: mx.Context) -> float:
    """Top-1 accuracy (%) with BatchNorm's running statistics (predict mode)."""
    correct = 0
    for a in range(0, len(x), EVAL_BATCH):
        out = net(mx.nd.array(x[a:a + EVAL_BATCH], ctx=ctx))
        correct += int((out.argmax(axis=1).asnumpy().astype(np.int64) == y[a:a + EVAL_BATCH]).sum())
    return 100.0 * correct / len(x)


def _build(settings: PretrainSettings, ctx: mx.Context):
    seed_everything(settings.seed)
    net = Classifier(settings.depth, settings.width_divisor, SC.NUM_CLASSES)
    net.initialize_weights(ctx)
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros((2, 3, settings.crop, settings.crop), ctx=ctx))  # finish the deferred shapes
    total = settings.epochs * settings.steps_per_epoch
    trainer = gluon.Trainer(net.collect_params(), "sgd", {
        "learning_rate": settings.lr, "momentum": settings.momentum, "wd": settings.wd,
        "lr_scheduler": WarmupCosine(total, settings.warmup_steps, settings.lr)})
    return net, trainer


def _resume(ckdir: Path, settings: PretrainSettings, net, trainer, ctx, restart_if_different: bool) -> tuple:
    """(epochs done, history) from the last checkpoint; (0, []) if there is none (or, with
    ``restart_if_different``, if it was made with other settings)."""
    ckpt = find_last_checkpoint(ckdir, CKPT_PREFIX)
    if ckpt is None:
        logger.info("--resume: no checkpoint in %s; starting from scratch", ckdir)
        return 0, []
    manifest = read_manifest(ckpt.manifest_path)
    if manifest.get("config") != settings.to_dict():
        theirs = manifest.get("config") or {}
        diff = sorted(k for k in set(theirs) | set(settings.to_dict()) if theirs.get(k) != settings.to_dict().get(k))
        if restart_if_different:
            logger.info("the checkpoint in %s has other settings (%s); starting over", ckdir, ", ".join(diff))
            return 0, []
        raise ValueError(f"--resume: the checkpoint {ckpt.manifest_path} was made with other settings "
                         f"(differing: {', '.join(diff)}); rerun with those, or without --resume to start over")
    load_checkpoint(ckpt, net, trainer, [ctx], restore_rng=False)
    logger.info("resuming after epoch %d/%d from %s", ckpt.epoch, settings.epochs, ckpt.manifest_path)
    return ckpt.epoch, list(manifest.get("metrics", {}).get("history", []))


def _train_epoch(net, trainer, batches, steps: int, epoch: int, ctx, progress: bool) -> Dict[str, float]:
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    loss_sum, correct = mx.nd.zeros((1,), ctx=ctx), mx.nd.zeros((1,), ctx=ctx)
    seen, tic = 0, time.perf_counter()
    bar = tqdm(batches, total=steps, desc=f"pretrain epoch {epoch + 1}", leave=False, disable=not progress,
               dynamic_ncols=True)
    for step, (x, y) in enumerate(bar, start=1):
        data, label = mx.nd.array(x, ctx=ctx), mx.nd.array(y, ctx=ctx)
        with autograd.record():
            out = net(data)
            loss = loss_fn(out, label)
        loss.backward()
        trainer.step(len(y))
        loss_sum += loss.sum()
        correct += (out.argmax(axis=1) == label.astype("float32")).sum()
        seen += len(y)
        if step % LOG_EVERY == 0 or step == steps:
            mean = float(loss_sum.asscalar()) / seen
            if not math.isfinite(mean):
                raise NonFiniteWeightsError(f"epoch {epoch + 1} step {step}: loss is {mean}; training diverged "
                                            "(lower --lr?); nothing written")
            bar.set_postfix(loss=f"{mean:.3f}", lr=f"{trainer.learning_rate:.3g}")
    bar.close()
    dt = time.perf_counter() - tic
    return {"loss": float(loss_sum.asscalar()) / seen, "train_top1": 100.0 * float(correct.asscalar()) / seen,
            "time_s": dt, "samples_per_s": seen / dt}


def pretrain(settings: PretrainSettings, prefix: str, *, resume: bool = False, workers: int = 0,
             progress: bool = True, command: Optional[Sequence[str]] = None,
             restart_if_different: bool = False) -> Dict[str, Any]:
    """Train and write ``PREFIX-0000.params`` + ``PREFIX-0000.json``; returns the JSON's content.

    ``workers``: renderer processes (0: render in this process). MXNet's thread count is whatever
    ``OMP_NUM_THREADS`` was when it was imported. ``resume``: continue from the last checkpoint (an error
    if it has other settings, unless ``restart_if_different``); else start over.
    """
    settings.validate()
    info_path(prefix).unlink(missing_ok=True)  # first: an interrupted run never looks complete
    ctx = mx.cpu()
    t_start = time.time()
    net, trainer = _build(settings, ctx)
    ckdir = checkpoint_dir(prefix)
    begin, history = _resume(ckdir, settings, net, trainer, ctx, restart_if_different) if resume else (0, [])
    if begin == 0:
        for old in list_checkpoints(ckdir, CKPT_PREFIX):  # stale epochs of an earlier run would confuse --resume
            for p in (old.manifest_path, old.params_path, old.states_path):
                p.unlink(missing_ok=True)
    logger.info("pretraining ResNet-v1-%d / %d on %d synthetic classes: %d epochs x %d fresh crops (%d px) "
                "seen %d times, batch %d, lr %g, %d threads, %d renderer processes -> %s", settings.depth,
                settings.width_divisor, SC.NUM_CLASSES, settings.epochs, settings.images_per_epoch, settings.crop,
                settings.repeats, settings.batch_size, settings.lr, int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
                workers, params_path(prefix))
    with CropRenderer(workers) as renderer:
        val_x, val_y = renderer.render("val", settings.seed, settings.crop, settings.val_images)
        val_x = to_input(val_x, settings.pixel_means)
        top1 = history[-1]["val_top1"] if history else float("nan")
        # one stream over every remaining epoch, so the renderers never wait at an epoch boundary
        pools = {e: epoch_pools(e, settings.images_per_epoch, settings.seed, settings.crop)
                 for e in range(begin, settings.epochs)}
        stream = renderer.stream(t for e in range(begin, settings.epochs) for t in pools[e])
        for epoch in range(begin, settings.epochs):
            seed_everything(settings.seed + epoch)
            rng = np.random.default_rng([settings.seed, AUG_STREAM, epoch])
            batches = (b for _ in pools[epoch] for b in pool_batches(*next(stream), settings.batch_size,
                                                                     settings.repeats, rng, settings.pixel_means))
            stats = _train_epoch(net, trainer, batches, settings.steps_per_epoch, epoch, ctx, progress)
            check_finite(net, f"after epoch {epoch + 1}")
            top1 = evaluate(net, val_x, val_y, ctx)
            history.append({"epoch": epoch + 1, "val_top1": top1, "lr": trainer.learning_rate, **stats})
            logger.info("epoch %d/%d: loss %.4f, train top-1 %.2f %%, held-out top-1 %.2f %% (%d crops), "
                        "%.0f samples/s, %.1f s", epoch + 1, settings.epochs, stats["loss"], stats["train_top1"],
                        top1, settings.val_images, stats["samples_per_s"], stats["time_s"])
            save_checkpoint(ckdir, CKPT_PREFIX, epoch + 1, net, trainer, config=settings.to_dict(),
                            metrics={"val_top1": top1, "history": history})
            for old in list_checkpoints(ckdir, CKPT_PREFIX)[:-1]:  # keep the newest only
                for p in (old.manifest_path, old.params_path, old.states_path):
                    p.unlink(missing_ok=True)
        if math.isnan(top1):  # resumed after the last epoch, from a checkpoint without history
            top1 = evaluate(net, val_x, val_y, ctx)
    out = save_original(net, params_path(prefix))
    info = {
        "format": FORMAT, "settings": settings.to_dict(), "classes": list(SC.CLASSES), "top1": top1,
        "epochs": settings.epochs, "seed": settings.seed,
        "train_time_s": sum(h["time_s"] for h in history), "wall_time_s_this_run": time.time() - t_start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "mxnet_threads": os.environ.get("OMP_NUM_THREADS"),
        "renderer_processes": workers, "mxnet": mx.__version__, "params": out.name,
        "params_sha256": sha256_file(out), "params_bytes": out.stat().st_size,
        "command": list(command) if command is not None else list(sys.argv), "history": history,
    }
    atomic_write_text(info_path(prefix), json.dumps(info, indent=1) + "\n")  # last: marks the file complete
    logger.info("held-out top-1 %.2f %% after %d epochs; wrote %s (%d arrays, original MSRA naming)", top1,
                settings.epochs, out, len(mx.nd.load(str(out))))
    return info

