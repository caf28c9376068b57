"""Evaluate a trained R-FCN / class-aware RPN on ``dataset.test_image_set``: VOC mAP@0.5 and @0.7.

    python -m rfcn.test --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml --params output/.../rfcn_synthetic-0008.params

Single-scale (``test_scales[0]``); detections per image are (K, 6)
[class, score, x1, y1, x2, y2] in original-image pixels.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional

import mxnet as mx
import numpy as np
from tqdm import tqdm

import operators
from dcn.checkpoint import load_params
from dcn.config import Config, add_config_args, config_from_args
from dcn.data.batching import det_sample_to_nd
from dcn.engine import make_contexts
from dcn.evaluation import VOCDetectionEvaluator, VOCResult

from .config import detect_params, model_spec
from .data import class_names, load_dataset, make_transform
from .inference import DetectParams, detect
from .model import RFCN

logger = logging.getLogger(__name__)


def load_net(cfg: Config, params_path: str, ctx: mx.Context) -> RFCN:
    operators.load()
    net = RFCN(model_spec(cfg))
    net.initialize_weights(ctx=ctx, scratch=False)  # resolves deferred shapes; then overwritten
    load_params(net, params_path, cfg=cfg)  # strict; our checkpoints or the original's released files
    net.hybridize()
    return net


def evaluate(net: RFCN, cfg: Config, params: Optional[DetectParams] = None, max_images: int = 0,
             ctx: Optional[mx.Context] = None, progress: bool = True) -> VOCResult:
    """Detect every test image (or the first ``max_images``) and score them with VOC AP at IoU 0.5 and 0.7."""
    ctx = ctx or make_contexts(cfg.gpus)[0]
    params = params or detect_params(cfg)
    if len(cfg.test_scales) > 1:
        logger.warning("multi-scale testing is not implemented; using %s only", cfg.test_scales[0])
    dataset = load_dataset(cfg, train=False)
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    evaluator = VOCDetectionEvaluator(class_names(cfg), (0.5, 0.7))
    n = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    for i in tqdm(range(n), desc="test", disable=not progress, leave=False):
        img, rec = dataset[i]
        batch = det_sample_to_nd(transform(img, rec, flip=False), ctx)
        dets = detect(net, batch["data"], batch["im_info"], params)
        evaluator.update_record(rec, dets[:, 2:6], dets[:, 0], dets[:, 1])
    return evaluator.evaluate()


def main(argv: Optional[List[str]] = None) -> None:
    parser = add_config_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--params", required=True, help="trained parameters (<prefix>-<epoch>.params)")
    parser.add_argument("--max-images", type=int, default=0, help="evaluate only the first N images (0 = all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    ctx = make_contexts(cfg.gpus)[0]
    net = load_net(cfg, args.params, ctx)
    result = evaluate(net, cfg, max_images=args.max_images, ctx=ctx)
    logger.info("per-class AP:\n%s", result.table())
    for key, value in result.summary().items():
        print(f"{key}: {100 * value:.2f}")


if __name__ == "__main__":
    main()
