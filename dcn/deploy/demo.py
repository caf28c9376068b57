"""Detections or segmentation from an ONNX export, without MXNet.

    python -m dcn.deploy.demo --onnx out/rfcn.onnx --image I.jpg [--runtime onnxruntime|openvino]
                              [--out demo_out] [--thresh 0.5] [--threads 1]

``--onnx`` is any ``.onnx`` file of the export (or its prefix); ``PREFIX-meta.json`` beside it says
which network it is. Detectors run the one-graph ``PREFIX.onnx`` when the export has it, else the
body + head graphs with the NumPy steps (``dcn.deploy.pipeline.OnnxDetector``). Detectors write
``<stem>_det.png`` (boxes scoring >= thresh, drawn as
``python -m rfcn.demo`` / ``fpn.demo`` draw them), DeepLab ``<stem>_seg.png`` and
``<stem>_overlay.png`` (as ``python -m deeplab.demo``), with the same drawing code
(``dcn.visualization.results``, which imports no MXNet).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np

from dcn.visualization.results import draw_detections, palette_for, save_prediction

from .pipeline import OnnxDetector, OnnxSegmenter, prefix_of, read_meta
from .runtime import RUNTIMES

logger = logging.getLogger(__name__)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dcn.deploy.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", required=True, help="an .onnx file of the export (or the export prefix)")
    ap.add_argument("--image", "--images", dest="images", nargs="+", required=True, help="image file(s)")
    ap.add_argument("--runtime", default="onnxruntime", choices=RUNTIMES)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="demo_out", help="folder for the PNG files")
    ap.add_argument("--thresh", type=float, default=0.5, help="draw detections scoring at least this")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prefix = prefix_of(args.onnx)
    try:
        meta, _ = read_meta(prefix)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    detector = meta["network"] in ("rfcn", "faster_rcnn", "fpn")
    model = (OnnxDetector if detector else OnnxSegmenter)(prefix, args.runtime, args.threads)
    names = meta.get("class_names", [])
    failed = 0
    for image in args.images:
        img = cv2.imread(image, cv2.IMREAD_COLOR)
        if img is None:
            logger.error("%s: skipped: not a readable image", image)
            failed += 1
            continue
        stem = Path(image).stem
        if detector:
            dets = model.detect_image(img)
            n = draw_detections(img, dets, names, Path(args.out) / f"{stem}_det.png", args.thresh)
            logger.info("%s: %d detections >= %.2f -> %s", image, n, args.thresh, Path(args.out) / f"{stem}_det.png")
            for cls, score, x1, y1, x2, y2 in dets[dets[:, 1] >= args.thresh]:
                print(f"{stem} {names[int(cls)] if int(cls) < len(names) else int(cls)} {score:.3f} "
                      f"{x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}")
        else:
            labels = model.predict_labels(img)
            paths = save_prediction(img, labels, names, Path(args.out), stem,
                                    palette_for(meta.get("dataset", "")))
            counts = np.bincount(labels.ravel(), minlength=len(names))
            print(f"{stem} " + " ".join(f"{names[c] if c < len(names) else c}:{counts[c]}"
                                        for c in np.flatnonzero(counts)))
            logger.info("%s -> %s", image, ", ".join(map(str, paths)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
