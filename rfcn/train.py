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

from typing import List, Optional

from dcn.detection.training import train
from dcn.distributed import run_train_cli

__all__ = ["main", "train"]


def main(argv: Optional[List[str]] = None) -> None:
    run_train_cli(train, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
