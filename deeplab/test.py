"""Evaluate a trained DeepLab on ``dataset.test_image_set``: mIoU and the per-class IoU table.

    python -m deeplab.test --cfg experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml \
        [--params output/.../deeplab_synthetic-0008.params] [--max-images N]

Single scale (``test_scales[0]``), no flipping; the class probabilities are
resized to the original image and compared with its full-resolution label
(255 ignored). Without ``--params`` the checkpoint of ``TEST.test_epoch``
(0: ``TRAIN.end_epoch``) in ``output_path`` is used.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional

import mxnet as mx
from tqdm import tqdm

from dcn.checkpoint import load_network
from dcn.config import Config, add_config_args, config_from_args
from dcn.engine import make_contexts
from dcn.engine.checkpoint import checkpoint_path
from dcn.evaluation import SegmentationEvaluator, SegResult

from .data import check_num_classes, class_names, load_dataset, prepare_image
from .inference import predict_labels
from .loss import IGNORE_LABEL
from .model import DeepLab

logger = logging.getLogger(__name__)


def default_params_path(cfg: Config) -> Path:
    epoch = cfg.TEST.test_epoch or cfg.TRAIN.end_epoch
    return checkpoint_path(cfg.output_path, cfg.TRAIN.model_prefix, epoch).with_suffix(".params")


def evaluate(net: DeepLab, cfg: Config, max_images: int = 0, ctx: Optional[mx.Context] = None,
             progress: bool = True) -> SegResult:
    """Segment every test image (or the first ``max_images``) and accumulate the confusion matrix."""
    ctx = ctx or make_contexts(cfg.gpus)[0]
    if len(cfg.test_scales) > 1:
        logger.warning("multi-scale testing is not implemented; using %s only", cfg.test_scales[0])
    dataset = load_dataset(cfg, train=False)
    check_num_classes(cfg, dataset)
    evaluator = SegmentationEvaluator(cfg.dataset.NUM_CLASSES, IGNORE_LABEL, class_names(cfg))
    n = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    for i in tqdm(range(n), desc="test", disable=not progress, leave=False):
        img, label = dataset[i]
        data = prepare_image(img, cfg.test_scales[0], cfg.network.PIXEL_MEANS)
        evaluator.update(predict_labels(net, data, label.shape, ctx), label)
    result = evaluator.evaluate()
    if result.confusion.sum() == 0:  # every pixel is ignore_label: mIoU would print as nan with rc 0
        raise ValueError(f"dataset.test_image_set={cfg.dataset.test_image_set!r} ({cfg.dataset.dataset_path}): "
                         f"its {n} test images have no labelled pixel (all {IGNORE_LABEL}), so mIoU is undefined")
    return result


def format_result(result: SegResult) -> str:
    """The per-class table, then ``mIoU: xx.xx`` and ``pixel_acc: xx.xx`` (percent)."""
    return f"{result.table()}\nmIoU: {100 * result.miou:.2f}\npixel_acc: {100 * result.pixel_accuracy:.2f}"


def main(argv: Optional[List[str]] = None) -> None:
    parser = add_config_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--params", default=None,
                        help="trained parameters (default: <output_path>/<model_prefix>-<test_epoch>.params)")
    parser.add_argument("--max-images", type=int, default=0, help="evaluate only the first N images (0 = all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    ctx = make_contexts(cfg.gpus)[0]
    params = args.params or default_params_path(cfg)
    net = load_network(cfg, params, ctx)
    logger.info("evaluating %s on %s %s", params, cfg.dataset.dataset, cfg.dataset.test_image_set)
    print(format_result(evaluate(net, cfg, max_images=args.max_images, ctx=ctx)))


if __name__ == "__main__":
    main()
