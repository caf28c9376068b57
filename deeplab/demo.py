"""Segment images with a trained DeepLab and save colour-coded predictions (VOC palette; Cityscapes
train-id colours for Cityscapes models, as the original demo).

    python -m deeplab.demo --params output/.../deeplab_synthetic-0008.params --images a.jpg b.jpg \
        [--cfg experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml] [--out demo_out]

For each image writes ``<stem>_seg.png`` (the predicted class map in VOC
colours, original resolution) and ``<stem>_overlay.png`` (image, prediction
and a legend of the classes present). The network is built from ``--cfg`` or,
by default, the ``config.yaml`` that training wrote next to the parameters.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from dcn.checkpoint import load_network
from dcn.config import add_trained_model_args, trained_config
from dcn.data.image_io import load_image
from dcn.data.records import DatasetFileError
from dcn.engine import make_contexts
from dcn.utils.fileio import unique_stems
from dcn.visualization.results import palette_for, save_prediction

from .data import class_names, prepare_image
from .inference import predict_labels

logger = logging.getLogger(__name__)

def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_trained_model_args(ap)
    ap.add_argument("--images", nargs="+", required=True, help="image files")
    ap.add_argument("--out", default="demo_out", help="folder for the PNG files")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = trained_config(args)
    ctx = make_contexts(cfg.gpus)[0]
    net = load_network(cfg, args.params, ctx)
    names = class_names(cfg)
    failed = []
    for image, stem in zip(args.images, unique_stems(args.images)):  # one.png + one.jpg: two outputs
        try:
            img = load_image(image)
            data = prepare_image(img, cfg.test_scales[0], cfg.network.PIXEL_MEANS)
        except (DatasetFileError, ValueError, cv2.error) as e:  # the other images still get their result
            logger.error("%s: skipped: %s", image, e)
            failed.append(image)
            continue
        labels = predict_labels(net, data, img.shape[:2], ctx)
        paths = save_prediction(img, labels, names, Path(args.out), stem, palette_for(cfg.dataset.dataset))
        logger.info("%s: classes %s -> %s", image, [names[c] for c in np.unique(labels) if c < len(names)],
                    ", ".join(map(str, paths)))
    if failed:
        raise SystemExit(f"{len(failed)} of {len(args.images)} images could not be read: {', '.join(failed)}")


if __name__ == "__main__":
    main()
