"""Alternate (4-step) Faster R-CNN training and test (the original has the stages, ``train_rpn`` / ``train_rcnn``,
but no script joining them):

    python -m fpn.alternate --cfg experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml [--set KEY=VALUE ...]

The same steps as ``rfcn.alternate`` (``dcn.detection.alternate``).
"""
from __future__ import annotations

from typing import List, Optional

from dcn.checkpoint import load_network
from dcn.detection.alternate import run_alternate_cli
from dcn.detection.training import LR_MULT, build_for_training


def main(argv: Optional[List[str]] = None) -> None:
    run_alternate_cli(build_for_training, load_network, LR_MULT, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
