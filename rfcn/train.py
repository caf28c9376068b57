"""End-to-end R-FCN / class-aware RPN training.

    python -m rfcn.train --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml [--set KEY=VALUE ...] [--resume]

One image per device per step; SGD with momentum / wd / warmup + step lr from
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
from dcn.config import Config, parse_config
from dcn.data.batching import list_batchify, scatter
from dcn.data.sampler import AspectRatioGroupSampler
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


def make_sampler(cfg: Config, dataset, num_devices: int) -> gluon.data.Sampler:
    """Batches of one image per device; aspect-ratio grouped (reseeded per epoch) or plain."""
    if cfg.TRAIN.ASPECT_GROUPING:
        return AspectRatioGroupSampler(dataset.aspect_ratios(), num_devices, shuffle=cfg.TRAIN.SHUFFLE,
                                       seed=cfg.default.seed)
    base = (gluon.data.RandomSampler(len(dataset)) if cfg.TRAIN.SHUFFLE
            else gluon.data.SequentialSampler(len(dataset)))
    return gluon.data.BatchSampler(base, num_devices, last_batch="keep")


def train(cfg: Config, resume: bool = False, progress: bool = True) -> Tuple[RFCN, object]:
    """Train as ``cfg`` says; returns the network and the finished ``TrainLoop``."""
    operators.load()
    ctx = make_contexts(cfg.gpus)
    dataset = train_dataset(cfg)
    sampler = make_sampler(cfg, dataset, len(ctx))
    loader = gluon.data.DataLoader(dataset, batch_sampler=sampler, batchify_fn=list_batchify,
                                   num_workers=cfg.default.num_workers)

    def epoch_data(epoch: int):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        return loader

    net = build_net(cfg, ctx)
    logger.info("%s: %s", "class-aware RPN" if net.spec.class_aware_rpn else "R-FCN", net.spec)
    loop = fit(cfg, net, make_forward(train_params(cfg)), epoch_data, len(dataset), resume=resume, ctx=ctx,
               lr_mult=LR_MULT, split_fn=lambda batch, ctxs: scatter(batch, ctxs), progress=progress)
    return net, loop


def main(argv: Optional[List[str]] = None) -> None:
    cfg, args = parse_config(argv, description=__doc__.split("\n\n")[0])
    train(cfg, resume=args.resume)


if __name__ == "__main__":
    main()
