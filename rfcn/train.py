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

from typing import List, Optional, Tuple

import mxnet as mx

from dcn.config import Config
from dcn.detection.training import LR_MULT, train_network
from dcn.modeling.pretrained import prepare_for_training
from dcn.distributed import DistSession, run_train_cli

from .config import model_spec
from .model import RFCN

def build_net(cfg: Config, ctx: List[mx.Context]) -> RFCN:
    """A new R-FCN (backbone from ``network.pretrained`` when set, strictly), hybridised."""
    return prepare_for_training(RFCN(model_spec(cfg)), cfg, ctx)


def train(cfg: Config, resume: bool = False, progress: bool = True, overwrite: bool = False,
          session: Optional[DistSession] = None) -> Tuple[RFCN, object]:
    """Train as ``cfg`` says; returns the network and the finished ``TrainLoop``.

    ``session``: the distributed job this process belongs to (``dist_*`` kvstores);
    made from ``cfg.default.kvstore`` when not given.
    """
    return train_network(cfg, build_net, lr_mult=LR_MULT, resume=resume, overwrite=overwrite,
                         progress=progress, session=session)


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
