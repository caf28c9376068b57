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

from typing import List, Optional, Tuple

from dcn.config import Config
from dcn.detection.training import LR_MULT, train_network
from dcn.distributed import DistSession, run_train_cli

from .config import Detector, build_net


def train(cfg: Config, resume: bool = False, progress: bool = True, overwrite: bool = False,
          session: Optional[DistSession] = None) -> Tuple[Detector, object]:
    """Train as ``cfg`` says; returns the network and the finished ``TrainLoop``."""
    return train_network(cfg, build_net, lr_mult=LR_MULT, resume=resume, overwrite=overwrite,
                         progress=progress, session=session)


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
