"""End-to-end R-FCN / class-aware RPN training.

    python -m rfcn.train --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml [--set KEY=VALUE ...] [--resume]
        [--gpus 0,1,2,3] [--kvstore device|dist_sync]

One image per device per step (effective batch: devices x workers images; the
lr in the config is for that whole batch, as in the original); SGD with momentum / wd / warmup + step lr from
``TRAIN.*``; a checkpoint (``<model_prefix>-<epoch>.params``) and the effective
``config.yaml`` in ``output_path`` (``dcn.engine``). The loop, losses and
distribution are ``dcn.detection.training``'s (shared with ``fpn.train``); with
``dataset.proposal_dir`` set the head trains on precomputed proposals
(``python -m fpn.proposals``), the paper's VOC protocol.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

import mxnet as mx

import operators
from dcn.config import Config
from dcn.detection.training import prepare_for_training, run_train_cli, train_detector
from dcn.distributed import DistSession
from dcn.engine import make_contexts

from .config import model_spec
from .model import RFCN

logger = logging.getLogger(__name__)

# the original's lr multiplier of the randomly initialised 1x1 reduction conv
LR_MULT = {r"^conv_new_1_": 3.0}


def build_net(cfg: Config, ctx: List[mx.Context]) -> RFCN:
    """A new R-FCN (backbone from ``network.pretrained`` when set, strictly), hybridised."""
    return prepare_for_training(RFCN(model_spec(cfg)), cfg, ctx)


def train(cfg: Config, resume: bool = False, progress: bool = True,
          session: Optional[DistSession] = None) -> Tuple[RFCN, object]:
    """Train as ``cfg`` says; returns the network and the finished ``TrainLoop``.

    ``session``: the distributed job this process belongs to (``dist_*`` kvstores);
    made from ``cfg.default.kvstore`` when not given.
    """
    operators.load()
    ctx = make_contexts(cfg.gpus)
    net = build_net(cfg, ctx)
    logger.info("%s: %s", "class-aware RPN" if net.spec.class_aware_rpn else "R-FCN", net.spec)
    loop = train_detector(cfg, net, ctx, lr_mult=LR_MULT, resume=resume, progress=progress, session=session)
    return net, loop


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
