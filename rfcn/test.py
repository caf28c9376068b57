"""Evaluate a trained R-FCN / class-aware RPN on ``dataset.test_image_set``: VOC mAP@0.5 and @0.7.

    python -m rfcn.test --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml --params output/.../rfcn_synthetic-0008.params

Every TEST scale, merged before NMS (``dcn.detection.evaluate``); detections per
image are (K, 6) [class, score, x1, y1, x2, y2] in original-image pixels.
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
