"""Evaluate a detector on ``dataset.test_image_set`` (VOC AP at IoU 0.5 and 0.7, and COCO-style AP of
small / medium / large objects), and the
shared ``test`` entry point of the detection packages.

Every TEST scale (``TEST_SCALES``; one = single-scale) is run and merged before
the (Soft-)NMS (``dcn.detection.inference.detect_multiscale``). With
``TEST.HAS_RPN: false`` the RoIs are the precomputed proposals of the test set
(``dcn.detection.proposals``).
"""
from __future__ import annotations

import argparse
import logging
from typing import Callable, List, Optional

import mxnet as mx
from tqdm import tqdm

from dcn.config import Config, add_config_args, config_from_args
from dcn.data.batching import det_sample_to_nd
from dcn.engine import make_contexts
from dcn.evaluation import VOCDetectionEvaluator, VOCResult
from dcn.evaluation.size_ap import SizeAPEvaluator

from .data import class_names, load_dataset, make_transform
from .inference import DetectParams, detect_multiscale
from .params import detect_params
from .proposals import load_proposals, lookup, proposal_file

logger = logging.getLogger(__name__)

LoadNet = Callable[[Config, str, mx.Context], mx.gluon.Block]


def evaluate(net, cfg: Config, params: Optional[DetectParams] = None, max_images: int = 0,
             ctx: Optional[mx.Context] = None, progress: bool = True) -> VOCResult:
    """Detect every test image (or the first ``max_images``) and score them with VOC AP at IoU 0.5 and 0.7."""
    ctx = ctx or make_contexts(cfg.gpus)[0]
    params = params or detect_params(cfg)
    dataset = load_dataset(cfg, train=False)
    transforms = [make_transform(cfg, train=False, scale=s) for s in cfg.test_scales]
    fixed = None if cfg.TEST.HAS_RPN else load_proposals(proposal_file(cfg, cfg.dataset.test_image_set))
    if len(transforms) > 1:
        logger.info("multi-scale test: %s, merged before %s", cfg.test_scales,
                    f"{params.softnms_method} soft-NMS" if params.use_softnms else "NMS")
    names = class_names(cfg)
    evaluator = VOCDetectionEvaluator(names, (0.5, 0.7))
    by_size = SizeAPEvaluator(len(names), (0.5, 0.7))
    n = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    num_objects = sum(int((~r.difficult).sum()) for r in dataset.records[:n])
    if num_objects == 0:  # every AP would be 0/0: 'mAP@0.5: nan' with rc 0 before
        raise ValueError(f"dataset.test_image_set={cfg.dataset.test_image_set!r} ({cfg.dataset.dataset_path}): its "
                         f"{n} test images hold no (non-difficult) objects, so AP is undefined; test on a split "
                         "with annotated objects")
    for i in tqdm(range(n), desc="test", disable=not progress, leave=False):
        img, rec = dataset[i]
        inputs, rois = [], []
        for transform in transforms:
            batch = det_sample_to_nd(transform(img, rec, flip=False), ctx)
            inputs.append((batch["data"], batch["im_info"]))
            if fixed is not None:
                boxes = lookup(fixed, rec.image_id, rec.height, rec.width) * float(batch["im_info"][0, 2].asscalar())
                rois.append(mx.nd.array(boxes, ctx=ctx))
        dets = detect_multiscale(net, inputs, params, rois if fixed is not None else None)
        evaluator.update_record(rec, dets[:, 2:6], dets[:, 0], dets[:, 1])
        by_size.update(dets[:, 2:6], dets[:, 0], dets[:, 1], rec.boxes, rec.labels, rec.difficult)
    result = evaluator.evaluate()
    result.by_size = by_size.evaluate()
    return result


def run_test_cli(load_net: LoadNet, argv: Optional[List[str]] = None, description: str = "") -> VOCResult:
    """``--cfg/--set --params [--max-images]``: load, evaluate, print mAP@0.5 / @0.7 (percent)."""
    parser = add_config_args(argparse.ArgumentParser(description=description))
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
        print(f"{key}: {100 * value:.2f}")  # the result lines scripts grep for
    return result
