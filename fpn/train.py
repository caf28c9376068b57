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

from typing import List, Optional

from dcn.detection.training import train
from dcn.distributed import run_train_cli

__all__ = ["main", "train"]


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
