"""End-to-end R-FCN / class-aware RPN training.

    python -m rfcn.train --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml [--set KEY=VALUE ...] [--resume]
        [--gpus 0,1,2,3] [--kvstore device|dist_sync]

One image per device per step (effective batch: devices x workers images; the
lr in the config is for that whole batch, as in the original); SGD with momentum / wd / warmup + step lr from
``TRAIN.*``; a checkpoint (``<model_prefix>-<epoch>.params``) and the effective
``config.yaml`` in ``output_path`` (``dcn.engine``).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

import operators
from dcn.config import Config
from dcn.data.batching import list_batchify, make_batch_sampler, scatter
from dcn.distributed import DistSession, parse_train_config
from dcn.engine import fit, make_contexts
from dcn.modeling.pretrained import load_pretrained as _load_pretrained

from .config import model_spec, train_params
from .data import train_dataset
from .loss import TrainParams, detector_loss
from .model import RFCN

logger = logging.getLogger(__name__)

# the original's lr multiplier of the randomly initialised 1x1 reduction conv
LR_MULT = {r"^conv_new_1_": 3.0}


def load_pretrained(net: RFCN, prefix: str, epoch: int, ctx: List[mx.Context]) -> None:
    """Backbone weights from an ImageNet file, strictly (``dcn.modeling.pretrained``: original or gluoncv)."""
    _load_pretrained(net, prefix, epoch)


def build_net(cfg: Config, ctx: List[mx.Context]) -> RFCN:
    net = RFCN(model_spec(cfg))
    net.initialize_weights(ctx=ctx, scratch=not cfg.network.pretrained)
    if cfg.network.pretrained:
        load_pretrained(net, cfg.network.pretrained, cfg.network.pretrained_epoch, ctx)
    net.hybridize()
    return net


def make_forward(params: TrainParams):
    def forward(net: RFCN, batch: Dict[str, mx.nd.NDArray]) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
        # numpy's global state is reseeded by the loop each epoch (deterministic resume)
        rng = np.random.default_rng(np.random.randint(2 ** 31))
        return detector_loss(net, batch, params, rng)
    return forward


def make_sampler(cfg: Config, dataset, num_devices: int, session: Optional[DistSession] = None) -> gluon.data.Sampler:
    """Batches of one image per device: aspect-ratio grouped or plain; this worker's shard under dist_sync."""
    rank, workers = (session.rank, session.num_workers) if session is not None else (0, 1)
    return make_batch_sampler(dataset.aspect_ratios(), num_devices, shuffle=cfg.TRAIN.SHUFFLE,
                              seed=cfg.default.seed, aspect_grouping=cfg.TRAIN.ASPECT_GROUPING,
                              rank=rank, num_workers=workers)


def train(cfg: Config, resume: bool = False, progress: bool = True,
          session: Optional[DistSession] = None) -> Tuple[RFCN, object]:
    """Train as ``cfg`` says; returns the network and the finished ``TrainLoop``.

    ``session``: the distributed job this process belongs to (``dist_*`` kvstores);
    made from ``cfg.default.kvstore`` when not given.
    """
    operators.load()
    ctx = make_contexts(cfg.gpus)
    session = session or DistSession(cfg.default.kvstore)
    dataset = train_dataset(cfg)
    sampler = make_sampler(cfg, dataset, len(ctx), session)
    loader = gluon.data.DataLoader(dataset, batch_sampler=sampler, batchify_fn=list_batchify,
                                   num_workers=cfg.default.num_workers)

    def epoch_data(epoch: int):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        return loader

    net = build_net(cfg, ctx)
    logger.info("%s: %s", "class-aware RPN" if net.spec.class_aware_rpn else "R-FCN", net.spec)
    loop = fit(cfg, net, session.watch(make_forward(train_params(cfg))), epoch_data,
               len(sampler) * len(ctx) * session.num_workers if session.distributed else len(dataset),
               resume=resume, ctx=ctx, lr_mult=LR_MULT, split_fn=lambda batch, ctxs: scatter(batch, ctxs),
               progress=progress)
    session.finish()
    return net, loop


def main(argv: Optional[List[str]] = None) -> None:
    cfg, args = parse_train_config(argv, description=__doc__.split("\n\n")[0])
    train(cfg, resume=args.resume, session=DistSession(cfg.default.kvstore, args.dist_timeout,
                                                       args.dist_start_timeout))


if __name__ == "__main__":
    main()
