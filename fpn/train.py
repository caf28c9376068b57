"""Faster R-CNN (2fc) / deformable FPN training: end-to-end, or the RoI head on precomputed proposals.

    python -m fpn.train --cfg experiments/fpn/cfgs/synthetic_fpn_dcn.yaml [--set KEY=VALUE ...] [--resume]
        [--gpus 0,1,2,3] [--kvstore device|dist_sync]

End-to-end (the original's joint training, COCO): RPN + head losses. With
``dataset.proposal_dir`` set, the head is trained on the precomputed proposals
``<proposal_dir>/<image_set>_<proposal>.npz`` (``python -m fpn.proposals``; the
paper's VOC ablation protocol) and the RPN is frozen. The loop, checkpoints
and distribution are ``dcn.detection.training``'s.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

import operators
from dcn.config import Config
from dcn.detection.data import train_dataset
from dcn.detection.proposals import load_proposals, proposal_file
from dcn.detection.training import run_train_cli, train_detector
from dcn.distributed import DistSession
from dcn.engine import make_contexts

from .config import LR_MULT, Detector, build_net

logger = logging.getLogger(__name__)


def freeze_rpn(net: Detector) -> List[str]:
    """No gradient for the RPN (training on fixed proposals never uses it)."""
    names = []
    for name, p in net.rpn.collect_params().items():
        p.grad_req = "null"
        names.append(name)
    return names


def train(cfg: Config, resume: bool = False, progress: bool = True,
          session: Optional[DistSession] = None) -> Tuple[Detector, object]:
    """Train as ``cfg`` says; returns the network and the finished ``TrainLoop``."""
    operators.load()
    ctx = make_contexts(cfg.gpus)
    fixed = cfg.dataset.proposal_dir != ""
    proposals = load_proposals(proposal_file(cfg, cfg.dataset.image_set)) if fixed else None
    dataset = train_dataset(cfg, proposals)
    net = build_net(cfg, ctx)
    if fixed:
        logger.info("training the head on precomputed proposals; RPN frozen (%d parameters)", len(freeze_rpn(net)))
    logger.info("%s: %s", "FPN" if net.spec.fpn else "Faster R-CNN", net.spec)
    loop = train_detector(cfg, net, dataset, ctx, lr_mult=LR_MULT, resume=resume, progress=progress,
                          session=session)
    return net, loop


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
