"""Evaluate a trained R-FCN / class-aware RPN on ``dataset.test_image_set``: VOC mAP@0.5 and @0.7.

    python -m rfcn.test --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml --params output/.../rfcn_synthetic-0008.params

Every TEST scale, merged before NMS (``dcn.detection.evaluate``); detections per
image are (K, 6) [class, score, x1, y1, x2, y2] in original-image pixels.
"""
from __future__ import annotations

from typing import List, Optional

import mxnet as mx

import operators
from dcn.checkpoint import load_params
from dcn.config import Config
from dcn.detection.evaluate import evaluate, run_test_cli

from .config import model_spec
from .model import RFCN

__all__ = ["evaluate", "load_net", "main"]


def load_net(cfg: Config, params_path: str, ctx: mx.Context) -> RFCN:
    operators.load()
    net = RFCN(model_spec(cfg))
    net.initialize_weights(ctx=ctx, scratch=False)  # resolves deferred shapes; then overwritten
    load_params(net, params_path, cfg=cfg)  # strict; our checkpoints or the original's released files
    net.hybridize()
    return net


def main(argv: Optional[List[str]] = None) -> None:
    run_test_cli(load_net, argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
