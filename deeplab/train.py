"""DeepLab training (one image per device per step).

    python -m deeplab.train --cfg experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml [--set KEY=VALUE ...] [--resume]
        [--gpus 0,1,2,3] [--kvstore device|dist_sync]

SGD with momentum / wd / warmup + step lr from ``TRAIN.*`` (the original
protocol: the lr drops x0.1 for the last third); a checkpoint
``<model_prefix>-<epoch>.params`` per epoch and the effective ``config.yaml``
in ``output_path`` (``dcn.engine``).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np

import operators
from dcn.config import Config
from dcn.data.batching import scatter, seg_sample_to_nd
from dcn.distributed import DistSession, epoch_loader, run_train_cli
from dcn.engine import TrainLoop, fit, make_contexts
from dcn.checkpoint.build import new_network
from dcn.modeling.pretrained import prepare_for_training

from .config import LR_MULT, check_train_config
from .data import train_dataset
from .loss import segmentation_loss
from .model import DeepLab

logger = logging.getLogger(__name__)


def build_net(cfg: Config, ctx: List[mx.Context]) -> DeepLab:
    return prepare_for_training(new_network(cfg), cfg, ctx)


def forward(net: DeepLab, batch: Dict[str, mx.nd.NDArray]) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    return segmentation_loss(net(batch["data"]), batch["label"])


def train(cfg: Config, resume: bool = False, progress: bool = True, overwrite: bool = False,
          session: Optional[DistSession] = None) -> Tuple[DeepLab, TrainLoop]:
    """Train as ``cfg`` says; returns the network and the finished loop.

    ``session``: the distributed job this process belongs to (``dist_*`` kvstores);
    made from ``cfg.default.kvstore`` when not given.
    """
    check_train_config(cfg)
    operators.load()
    ctx = make_contexts(cfg.gpus)
    session = session or DistSession(cfg.default.kvstore)
    dataset = train_dataset(cfg)

    def reseed_crops(epoch: int) -> None:
        # random crops depend on (seed, epoch) only, so a resumed run sees the same crops
        dataset.transform.rng = np.random.default_rng([cfg.default.seed, epoch])

    epoch_data, num_samples = epoch_loader(cfg, dataset, len(ctx), session, on_epoch=reseed_crops)
    net = build_net(cfg, ctx)
    logger.info("DeepLab: %s", net.spec)
    loop = fit(cfg, net, session.watch(forward), epoch_data, num_samples, resume=resume, overwrite=overwrite,
               ctx=ctx, lr_mult=LR_MULT, split_fn=lambda batch, ctxs: scatter(batch, ctxs, seg_sample_to_nd),
               progress=progress)
    session.finish()
    return net, loop


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
