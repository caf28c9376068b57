"""Config-driven assembly: devices, frozen params, lr schedule, Trainer, loop, resume."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import mxnet as mx
from mxnet import gluon

from ..config.dump import config_to_dict, dump_config
from ..config.schema import Config, TrainConfig
from ..distributed.kvstore import KVStoreLike, is_distributed, num_workers, resolve_kvstore, worker_rank
from ..utils.fileio import remove_stale_temp_files
from ..utils.logger import setup_logging
from .checkpoint import CheckpointError, checkpoint_path
from .devices import make_contexts, split_batch
from .loop import DataSource, ForwardFn, TrainLoop
from .output_dir import claim_output_dir
from .lr_scheduler import build_lr_scheduler
from .params import freeze_params, set_lr_mult, trainable_params

logger = logging.getLogger(__name__)


def build_trainer(params: gluon.ParameterDict, train_cfg: TrainConfig, lr_scheduler: Optional[mx.lr_scheduler.LRScheduler],
                  kvstore: KVStoreLike = "device") -> gluon.Trainer:
    """SGD with momentum/wd over the trainable parameters (``grad_req != 'null'``).

    ``kvstore`` goes to ``gluon.Trainer`` ('device' for one host with several
    GPUs; with one device none is created); a 'dist_*' name is replaced by the
    process's single store (dcn.distributed.resolve_kvstore).
    """
    opt = {"learning_rate": train_cfg.lr, "momentum": train_cfg.momentum, "wd": train_cfg.wd,
           "lr_scheduler": lr_scheduler}
    if train_cfg.clip_gradient is not None:
        opt["clip_gradient"] = train_cfg.clip_gradient
    trainable = trainable_params(params)
    if not trainable:
        raise ValueError("no trainable parameters (check network.FIXED_PARAMS)")
    kvstore = resolve_kvstore(kvstore)
    # dist: workers pull the summed gradients and all run the same update (what the servers would
    # compute), because optimizer states kept on the servers cannot be saved in checkpoints.
    update_on_kvstore = False if is_distributed(kvstore) else None
    return gluon.Trainer(trainable, "sgd", opt, kvstore=kvstore, update_on_kvstore=update_on_kvstore)


def fit(cfg: Config, net: gluon.Block, forward_fn: ForwardFn, data: DataSource, num_samples: int, *,
        resume: bool = False, overwrite: bool = False, ctx: Optional[Sequence[mx.Context]] = None,
        lr_mult: Optional[Mapping[str, float]] = None, output_dir: Optional[str] = None,
        split_fn: Callable[[Any, Sequence[mx.Context]], list] = split_batch, progress: bool = True) -> TrainLoop:
    """Train ``net`` (initialized on ``ctx``) as ``cfg`` says and return the finished loop.

    ``num_samples``: images in one epoch (flipped copies included; all workers'
    shards together under dist_sync), used to turn ``TRAIN.lr_step`` epochs into
    updates. ``lr_mult``: ``{regex: multiplier}`` applied to matching parameters.
    ``resume``: continue from the last complete checkpoint in the output folder
    (or start at ``TRAIN.begin_epoch``). A new run into a folder holding another run's checkpoints raises
    :class:`~dcn.engine.output_dir.OutputExistsError` unless ``overwrite`` (the old folder is moved aside).
    """
    out = Path(output_dir or cfg.output_path)
    kvstore = resolve_kvstore(cfg.default.kvstore)
    chief = worker_rank(kvstore) == 0  # other workers of a dist job log to their console only
    if chief:
        claim_output_dir(out, cfg.TRAIN.model_prefix, resume=resume, overwrite=overwrite,
                         begin_epoch=cfg.TRAIN.begin_epoch)
    setup_logging(out if chief else None)
    if chief:
        for stale in remove_stale_temp_files(out):  # what a killed run's atomic writes left behind
            logger.warning("removed %s: the temp file of an interrupted write", stale)
    ctx = list(ctx) if ctx is not None else make_contexts(cfg.gpus)
    if chief:
        dump_config(cfg, out)
    params = net.collect_params()
    freeze_params(params, cfg.network.FIXED_PARAMS)
    if lr_mult:
        set_lr_mult(params, lr_mult)
    # One update consumes a batch on every device of every worker (num_samples: the whole dataset).
    samples_per_update = len(ctx) * cfg.TRAIN.BATCH_IMAGES * num_workers(kvstore)
    scheduler = build_lr_scheduler(cfg.TRAIN, num_samples, samples_per_update)
    trainer = build_trainer(params, cfg.TRAIN, scheduler, kvstore=kvstore)
    loop = TrainLoop(net, trainer, forward_fn, data, ctx, out, end_epoch=cfg.TRAIN.end_epoch,
                     prefix=cfg.TRAIN.model_prefix, frequent=cfg.default.frequent, seed=cfg.default.seed,
                     config=config_to_dict(cfg), normalize_grad_by_batch=cfg.TRAIN.normalize_grad_by_batch,
                     split_fn=split_fn, progress=progress)
    begin = cfg.TRAIN.begin_epoch
    resumed = loop.resume() if resume else None
    if resumed is not None:
        begin = resumed
    elif begin > 0:
        path = checkpoint_path(out, cfg.TRAIN.model_prefix, begin)
        if not path.is_file():
            raise CheckpointError(f"{path}: TRAIN.begin_epoch={begin} needs this checkpoint")
        loop.load_epoch(begin)
    logger.info("training epochs %d..%d on %s, %d samples/epoch, %d per update", begin, cfg.TRAIN.end_epoch - 1,
                ctx, num_samples, samples_per_update)
    loop.run(begin)
    return loop
