"""Size and CPU time of deformable vs plain detectors (ResNet-101), in one run (paper Table 4):
Faster R-CNN 2fc and R-FCN.

    python -m benchmarks.bench_detectors                      # Faster R-CNN, COCO (81 classes), short side 300 / max 500
    python -m benchmarks.bench_detectors --network rfcn --short 600 --max-size 1000 --image 600x1000 --repeats 3

Plain: conv5 dilated 2, (PS) RoI pooling without offsets (our operator, bilinear);
deformable: res5a/b/c deformable (4 offset groups, as the original) and
deformable RoI pooling (Faster R-CNN, paper figure 3) or deformable PS RoI
pooling (R-FCN, figure 4). Random weights (a scratch start, so
activations stay well scaled); the offset layers get small random weights and
biases so that sampling is fractional (zero offsets would sample the regular
grid). Per image, median wall-clock seconds after one warm-up, plain and
deformable interleaved so that load from other processes hits both alike:

* forward: backbone, RPN, proposals (TEST.RPN_* 6000/300, NMS 0.7), RoI head,
  box decoding (``dcn.detection.inference.raw_detections``);
* total: resize + normalise the BGR image (``DetectionTransform``), forward,
  per-class NMS + score threshold (``postprocess``), as the paper's runtime column.

Uses every core unless OMP_NUM_THREADS is set.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time
from typing import Dict, List

import mxnet as mx
import numpy as np
from tqdm import tqdm

import operators
from dcn.data.batching import det_sample_to_nd
from dcn.data.records import DetRecord
from dcn.data.transforms import DetectionTransform
from dcn.detection.inference import DetectParams, postprocess, raw_detections
from dcn.modeling.scratch_init import PIXEL_STD
from fpn.rcnn import FasterRCNN
from fpn.spec import FasterRCNNSpec
from rfcn.model import RFCN, RFCNSpec

LOG = logging.getLogger("bench_detectors")

# paper Table 4 (ResNet-101, K40 GPU): params (M), net forward (s), runtime (s)
PAPER = {"rcnn": {"plain": (58.3, 0.147, 0.190), "deformable": (59.9, 0.192, 0.234)},
         "rfcn": {"plain": (47.1, 0.143, 0.170), "deformable": (49.5, 0.169, 0.193)}}


def build(network: str, num_classes: int, deformable: bool, depth: int, seed: int = 0):
    mx.random.seed(seed)
    layers = 3 if deformable else 0
    if network == "rfcn":
        net = RFCN(RFCNSpec(num_classes, depth=depth, num_deformable_layers=layers, deformable_psroi=deformable,
                            anchor_scales=(4, 8, 16, 32), input_scale=1.0 / PIXEL_STD))
    else:
        net = FasterRCNN(FasterRCNNSpec(num_classes, depth=depth, num_deformable_layers=layers,
                                        deformable_roi_pooling=deformable, anchor_scales=(4, 8, 16, 32),
                                        input_scale=1.0 / PIXEL_STD))
    net.initialize_weights(scratch=True)
    for name, p in net.collect_params(".*offset_(weight|bias)").items():
        if name.startswith("res"):  # deformable convs: offsets of about +-2 pixels
            p.set_data(mx.nd.random.uniform(-2, 2, p.shape) if name.endswith("bias")
                       else mx.nd.random.normal(0, 1e-3, p.shape))
        else:  # the RoI pooling offset layers: normalised offsets of a few tenths (x trans_std 0.1)
            p.set_data(mx.nd.random.normal(0, 1e-3 if name.endswith("weight") else 1.0, p.shape))
    net.hybridize(static_alloc=True)
    return net


def count_params(net) -> int:
    """Learnable parameters (BatchNorm statistics and the anchor tables excluded)."""
    return sum(p.data().size for name, p in net.collect_params().items()
               if not name.endswith(("running_mean", "running_var")) and not name.startswith("anchors_"))


def run_once(net, img: np.ndarray, rec: DetRecord, transform: DetectionTransform,
             params: DetectParams) -> Dict[str, float]:
    tic = time.perf_counter()
    batch = det_sample_to_nd(transform(img, rec, flip=False))
    fwd = time.perf_counter()
    boxes, probs = raw_detections(net, batch["data"], batch["im_info"], params)
    probs.wait_to_read()
    done = time.perf_counter()
    dets = postprocess(boxes, probs, 1.0, params)
    end = time.perf_counter()
    return {"resize": fwd - tic, "forward": done - fwd, "nms": end - done, "total": end - tic,
            "rois": float(probs.shape[0]), "dets": float(len(dets))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", choices=("rcnn", "rfcn"), default="rcnn", help="Faster R-CNN 2fc or R-FCN")
    ap.add_argument("--short", type=int, default=300, help="test scale: image short side")
    ap.add_argument("--max-size", type=int, default=500, help="test scale: longest side at most")
    ap.add_argument("--image", default="480x640", help="raw (pre-resize) image HxW")
    ap.add_argument("--classes", type=int, default=81, help="classes incl. background (COCO 81, VOC 21)")
    ap.add_argument("--score-thresh", type=float, default=1e-3,
                    help="detections kept for NMS (TEST.SCORE_THRESH; with random weights every class of every "
                         "RoI scores ~1/C, so at 1e-3 NMS sees all RoIs x classes: its worst case)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--depth", type=int, default=101)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    operators.load()
    h, w = (int(v) for v in args.image.lower().split("x"))
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    rec = DetRecord("bench", "unused.jpg", h, w)
    transform = DetectionTransform(args.short, args.max_size)
    params = DetectParams(rpn_pre_nms_top_n=6000, rpn_post_nms_top_n=300, nms=0.3, score_thresh=args.score_thresh,
                          max_per_image=100)
    nets = {k: build(args.network, args.classes, k == "deformable", args.depth) for k in ("plain", "deformable")}
    sizes = {k: count_params(n) for k, n in nets.items()}
    sizes_voc = sizes if args.classes == 21 else {
        k: count_params(build(args.network, 21, k == "deformable", args.depth)) for k in nets}
    for net in nets.values():  # warm-up: graph creation and memory planning
        run_once(net, img, rec, transform, params)
    runs: Dict[str, List[Dict[str, float]]] = {k: [] for k in nets}
    for _ in tqdm(range(args.repeats), desc="repeats", leave=False):
        for name, net in nets.items():
            runs[name].append(run_once(net, img, rec, transform, params))
    med = {k: {m: statistics.median(r[m] for r in v) for m in runs[k][0]} for k, v in runs.items()}
    in_h, in_w = (int(v) for v in transform(img, rec, flip=False).im_info[:2])
    print(f"mxnet {mx.__version__}, {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, {args.network}, ResNet-{args.depth}, "
          f"{args.classes} classes, "
          f"{h}x{w} image resized to {in_h}x{in_w}, median of {args.repeats} after 1 warm-up")
    print("| model | params (M) | params, 21 classes (M) | RoIs | resize (s) | forward (s) | NMS (s) | total (s) | "
          "paper K40 params / forward / total |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in ("plain", "deformable"):
        m = med[name]
        p = PAPER[args.network][name]
        print(f"| {name} | {sizes[name] / 1e6:.2f} | {sizes_voc[name] / 1e6:.2f} | {m['rois']:.0f} | "
              f"{m['resize']:.3f} | {m['forward']:.3f} | {m['nms']:.3f} | {m['total']:.3f} | "
              f"{p[0]} M / {p[1]:.3f} / {p[2]:.3f} |")
    paper = PAPER[args.network]
    fr = med["deformable"]["forward"] / med["plain"]["forward"]
    tr = med["deformable"]["total"] / med["plain"]["total"]
    print(f"| deformable / plain | {sizes['deformable'] / sizes['plain']:.3f} | "
          f"{sizes_voc['deformable'] / sizes_voc['plain']:.3f} | | | {fr:.3f} | | {tr:.3f} | "
          f"{paper['deformable'][0] / paper['plain'][0]:.3f} / {paper['deformable'][1] / paper['plain'][1]:.3f} / "
          f"{paper['deformable'][2] / paper['plain'][2]:.3f} |")


if __name__ == "__main__":
    main()
