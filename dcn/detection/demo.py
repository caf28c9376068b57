"""Draw detections on images and save them as PNG files; the shared ``demo`` entry point.

The network is built from ``--cfg`` or, by default, the ``config.yaml`` that
training wrote next to the parameters, and tested at ``test_scales[0]``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, List, Optional

import cv2
import mxnet as mx

from dcn.config import Config, add_trained_model_args, load_config, trained_config_path
from dcn.data.batching import det_sample_to_nd
from dcn.data.image_io import load_image
from dcn.data.records import DatasetFileError, DetRecord
from dcn.engine import make_contexts
from dcn.utils.fileio import unique_stems
from dcn.visualization.results import draw_detections

from .data import class_names, make_transform
from .inference import detect
from .params import detect_params

logger = logging.getLogger(__name__)


def run_demo_cli(load_net: Callable[[Config, str, mx.Context], mx.gluon.Block], argv: Optional[List[str]] = None,
                 description: str = "") -> None:
    """``--params --images [--cfg --set --out --thresh]``: one PNG per image with its detections."""
    ap = argparse.ArgumentParser(description=description)
    add_trained_model_args(ap)
    ap.add_argument("--images", nargs="+", required=True, help="image files")
    ap.add_argument("--out", default="demo_out", help="folder for the PNG files")
    ap.add_argument("--thresh", type=float, default=0.5, help="draw detections scoring at least this")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg_path = trained_config_path(args)
    cfg = load_config(cfg_path, args.overrides)
    if not cfg.TEST.HAS_RPN:
        raise SystemExit(f"{cfg_path}: TEST.HAS_RPN is false, so the RPN that proposes this demo's boxes is not "
                         "used (or not in the file). Add --set TEST.HAS_RPN=true if the parameters hold the RPN, "
                         "or draw given RoIs with python -m rfcn.show_offsets --boxes X1,Y1,X2,Y2,CLASS")
    ctx = make_contexts(cfg.gpus)[0]
    net = load_net(cfg, args.params, ctx)
    names, params = class_names(cfg), detect_params(cfg)
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    failed = []
    for image, stem in zip(args.images, unique_stems(args.images)):  # one.png + one.jpg: two outputs
        try:
            img = load_image(image)
            rec = DetRecord(stem, Path(image), img.shape[0], img.shape[1])
            batch = det_sample_to_nd(transform(img, rec, flip=False), ctx)
        except (DatasetFileError, ValueError, cv2.error) as e:  # the other images still get their result
            logger.error("%s: skipped: %s", image, e)
            failed.append(image)
            continue
        dets = detect(net, batch["data"], batch["im_info"], params)
        out = Path(args.out) / f"{stem}_det.png"
        n = draw_detections(img, dets, names, out, args.thresh)
        logger.info("%s: %d detections >= %.2f -> %s", image, n, args.thresh, out)
    if failed:
        raise SystemExit(f"{len(failed)} of {len(args.images)} images could not be read: {', '.join(failed)}")


