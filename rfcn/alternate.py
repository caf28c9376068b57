"""Alternate (4-step) R-FCN training and test, as the original's ``rfcn_alternate_train_test.py``:

    python -m rfcn.alternate --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml [--set KEY=VALUE ...] [--no-test]

rpn1 -> proposals -> rfcn1 -> rpn2 (shared layers frozen) -> proposals -> rfcn2 -> combined model
(``dcn.detection.alternate``); every stage trains ``TRAIN.end_epoch`` epochs with ``TRAIN.lr``/``lr_step``, in
``<output_path>/<stage>``; the combined model is ``<output_path>/final/<prefix>-<end_epoch>.params``.
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
