"""Detections or segmentation from an ONNX export, without MXNet.

    python -m dcn.deploy.demo --onnx out/rfcn.onnx --image I.jpg [--runtime onnxruntime|openvino]
                              [--out demo_out] [--thresh 0.5] [--threads 1]

``--onnx`` is any ``.onnx`` file of the export (or its prefix); ``PREFIX-meta.json`` beside it says
which network it is. Detectors run the one-graph ``PREFIX.onnx`` when the export has it, else the
body + head graphs with the NumPy steps (``dcn.deploy.pipeline.OnnxDetector``). Detectors write
``<stem>_det.png`` (boxes scoring >= thresh, drawn as
``python -m rfcn.demo`` / ``fpn.demo`` draw them), DeepLab ``<stem>_seg.png`` and
``<stem>_overlay.png`` (as ``python -m deeplab.demo``). The drawing code mirrors those demos
because their modules import MXNet.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .pipeline import OnnxDetector, OnnxSegmenter, prefix_of, read_meta  # noqa: E402
from .runtime import RUNTIMES  # noqa: E402

logger = logging.getLogger(__name__)


def draw_detections(img_bgr: np.ndarray, dets: np.ndarray, names: Sequence[str], out_path: Path,
                    thresh: float = 0.5) -> int:
    """Save the image with boxes scoring >= ``thresh``; returns how many were drawn
    (``dcn.detection.demo.draw_detections``)."""
    h, w = img_bgr.shape[:2]
    fig = plt.figure(figsize=(w / 100.0, h / 100.0), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(img_bgr[:, :, ::-1])
    ax.axis("off")
    colors = plt.get_cmap("tab10")
    kept = dets[dets[:, 1] >= thresh]
    for cls, score, x1, y1, x2, y2 in kept:
        color = colors(int(cls) % 10)
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1 + 1, y2 - y1 + 1, fill=False, edgecolor=color, linewidth=2))
        name = names[int(cls)] if int(cls) < len(names) else f"class{int(cls) + 1}"
        ax.text(x1, y1 - 2, f"{name} {score:.2f}", fontsize=8, color="white",
                bbox=dict(facecolor=color, alpha=0.7, pad=1, edgecolor="none"))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return len(kept)


def palette_for(dataset: str) -> np.ndarray:
    """(256, 3) RGB: Cityscapes train-id colours for CityScape, else VOC's (``deeplab.demo.palette_for``)."""
    from dcn.data import CITYSCAPES_COLORS
    from dcn.data.synthetic import voc_palette
    if dataset == "CityScape":
        pal = np.zeros((256, 3), np.uint8)
        pal[:len(CITYSCAPES_COLORS)] = CITYSCAPES_COLORS
        return pal
    return np.array(voc_palette(), np.uint8).reshape(256, 3)


def save_segmentation(img_bgr: np.ndarray, labels: np.ndarray, names: Sequence[str], out_dir: Path, stem: str,
                      palette: np.ndarray) -> List[Path]:
    """``<stem>_seg.png`` and ``<stem>_overlay.png`` (``deeplab.demo.save_prediction``)."""
    from matplotlib.patches import Patch
    out_dir.mkdir(parents=True, exist_ok=True)
    color = palette[labels.astype(np.uint8)]
    seg_path, overlay_path = out_dir / f"{stem}_seg.png", out_dir / f"{stem}_overlay.png"
    if not cv2.imwrite(str(seg_path), color[:, :, ::-1]):
        raise OSError(f"{seg_path}: could not write the PNG")
    h, w = labels.shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * w / 100.0 + 0.5, h / 100.0 + 0.8), dpi=100)
    rgb = img_bgr[:, :, ::-1]
    axes[0].imshow(rgb)
    axes[0].set_title("image")
    axes[1].imshow((0.4 * rgb + 0.6 * color).astype(np.uint8))
    axes[1].set_title("prediction")
    for ax in axes:
        ax.axis("off")
    present = [c for c in np.unique(labels) if c < len(names)]
    fig.legend(handles=[Patch(color=palette[c] / 255.0, label=names[c]) for c in present],
               loc="lower center", ncol=max(1, min(len(present), 7)), fontsize=7, frameon=False)
    fig.savefig(overlay_path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [seg_path, overlay_path]


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
            paths = save_segmentation(img, labels, names, Path(args.out), stem,
                                      palette_for(meta.get("dataset", "")))
            counts = np.bincount(labels.ravel(), minlength=len(names))
            print(f"{stem} " + " ".join(f"{names[c] if c < len(names) else c}:{counts[c]}"
                                        for c in np.flatnonzero(counts)))
            logger.info("%s -> %s", image, ", ".join(map(str, paths)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
