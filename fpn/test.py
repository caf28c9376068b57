"""Evaluate a trained Faster R-CNN / FPN on ``dataset.test_image_set``: VOC mAP@0.5 and @0.7.

    python -m fpn.test --cfg experiments/fpn/cfgs/synthetic_fpn_dcn.yaml --params output/.../fpn_synthetic-0008.params

Every TEST scale (``TEST_SCALES``) merged before NMS or Soft-NMS
(``TEST.USE_SOFTNMS``); ``TEST.HAS_RPN: false`` tests on precomputed proposals
(``dcn.detection.evaluate``).
"""
from __future__ import annotations

from typing import List, Optional

from dcn.checkpoint import load_network
from dcn.detection.evaluate import run_test_cli

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> None:
    run_test_cli(load_network, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
