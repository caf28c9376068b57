"""Tables 2 and 4 from the trained models (in the parent, after the trainings).

* Table 2: effective dilation of the 3 deformable layers of the 3-layer R-FCN
  (Table 1's ``dconv3`` row, as the paper), by the smallest ground-truth box
  containing the filter centre; the val images of every seed pooled.
* Table 4: parameters (the learnable ones, ``dcn.modeling.params``) and CPU time of the plain and
  deformable model of each task, timed interleaved image by image (a busy machine
  slows both alike); network forward = backbone + RPN (+ head on the image's 300
  fixed proposals), runtime = + resize, normalisation and post-processing (NMS /
  per-pixel argmax). Medians in ms.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd

from dcn.config import Config
from dcn.data.batching import det_sample_to_nd
from dcn.data.records import DetRecord
from dcn.detection.data import load_dataset, make_transform
from dcn.detection.inference import detect
from dcn.detection.params import detect_params
from dcn.detection.proposals import load_proposals, lookup, proposal_file
from dcn.visualization.capture import collect_offsets
from dcn.modeling.params import count_params  # the one count of every Table 4 report
from dcn.visualization.dilation import COCO_AREAS, DilationStats

from . import paper_numbers
from .plan import DETECTORS, TASK_TITLES

COCO_TEST_SHORT_SIDE = 600  # Table 2's areas refer to COCO images at this short side


def val_images(cfg: Config, n: int, with_objects: bool = True) -> List[Tuple[np.ndarray, DetRecord]]:
    ds = load_dataset(cfg, train=False)
    found = []
    for i in range(len(ds)):
        img, rec = ds[i]
        if len(rec.boxes) or not with_objects:
            found.append((img, rec))
        if len(found) >= n:
            break
    return found


def dilation_stats(models: Sequence[Tuple[object, Config]], num_images: int) -> Tuple[DilationStats, str]:
    """Pooled Table 2 statistics of ``models`` (one per seed) and the note saying how they were made."""
    stats = DilationStats()
    note = ""
    for net, cfg in models:
        scale = cfg.test_scales[0]
        transform = make_transform(cfg, train=False, scale=scale)
        factor = (scale[0] / COCO_TEST_SHORT_SIDE) ** 2
        areas = (COCO_AREAS[0] * factor, COCO_AREAS[1] * factor)
        for img, rec in val_images(cfg, num_images):
            sample = transform(img, rec, flip=False)
            batch = det_sample_to_nd(sample)
            with autograd.predict_mode():
                layers = collect_offsets(net, batch["data"])
            stats.add(layers, np.asarray(rec.boxes, np.float64) * float(sample.im_info[2]),
                      cfg.network.RCNN_FEAT_STRIDE, areas)
        note = (f"small < {np.sqrt(areas[0]):.0f}² px, medium < {np.sqrt(areas[1]):.0f}² px, large, else background "
                f"(COCO's 96², 224² at a {COCO_TEST_SHORT_SIDE}-px short side, rescaled to {scale[0]} px)")
    return stats, note


def table2_markdown(stats: DilationStats, note: str, seeds: int, num_images: int) -> str:
    rows = stats.table()
    paper = list(paper_numbers.TABLE2.items())
    lines = [f"Effective dilation (mean ± std of the distance between adjacent sampling locations, in feature "
             f"cells) of the 3 deformable layers of the 3-layer R-FCN, {num_images} val images x {seeds} seed(s) "
             f"pooled; by the smallest ground-truth box containing the filter centre: {note}. A regular filter "
             "gives its dilation (2 in res5, 1 in res4). Paper: ResNet-101's res5a-c on VOC 2007 test, matched "
             "from the last layer.", "",
             "| layer (paper's) | small | medium | large | background | taps on padding |",
             "|---|---:|---:|---:|---:|---:|"]
    for i, r in enumerate(reversed(rows)):
        name, values = paper[i] if i < len(paper) else ("", ())
        cells = [f"{r[c + '_mean']:.2f} ± {r[c + '_std']:.2f}" if r[c + "_n"] else "n/a"
                 for c in ("small", "medium", "large", "background")]
        if values:
            cells = [f"{c} \\| {m:.1f} ± {s:.1f}" for c, (m, s) in zip(cells, values)]
        lines.append(f"| {r['layer']} ({name or '–'}) | " + " | ".join(cells) +
                     f" | {100 * r['taps_on_padding']:.0f} % |")
    return "\n".join(lines)


def _timer(task: str, net, cfg: Config, img: np.ndarray, rec: DetRecord
           ) -> Tuple[Callable[[], None], Callable[[], None]]:
    """(network forward, whole runtime) of one image as callables that block until done."""
    if task == "deeplab":
        from deeplab.data import prepare_image
        from deeplab.inference import predict_labels
        data = mx.nd.array(prepare_image(img, cfg.test_scales[0], cfg.network.PIXEL_MEANS)[None])

        def forward():
            with autograd.predict_mode():
                net(data).wait_to_read()

        def runtime():
            predict_labels(net, prepare_image(img, cfg.test_scales[0], cfg.network.PIXEL_MEANS), img.shape[:2])
        return forward, runtime
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    params = detect_params(cfg)
    fixed = None
    if task in DETECTORS:
        fixed = load_proposals(proposal_file(cfg, cfg.dataset.test_image_set))

    def rois_of(batch):
        if fixed is None:
            return None
        boxes = lookup(fixed, rec.image_id, rec.height, rec.width) * float(batch["im_info"][0, 2].asscalar())
        return mx.nd.array(boxes)

    batch0 = det_sample_to_nd(transform(img, rec, flip=False))
    rois0 = rois_of(batch0)

    def forward():
        with autograd.predict_mode():
            feat, logits, deltas, anchors = net(batch0["data"])
            outs = [logits, deltas, anchors]
            if rois0 is not None:
                outs += list(net.head_forward(feat, rois0))
        for a in outs:
            a.wait_to_read()

    def runtime():
        batch = det_sample_to_nd(transform(img, rec, flip=False))
        detect(net, batch["data"], batch["im_info"], params, rois_of(batch))  # NumPy out: synchronised
    return forward, runtime


def measure_table4(pairs: Dict[str, Tuple[Tuple[object, Config], Tuple[object, Config]]], num_images: int,
                   rounds: int, warmup: int = 2) -> List[dict]:
    """``pairs``: task -> ((plain net, cfg), (deformable net, cfg)); one row per task."""
    rows = []
    for task, models in pairs.items():
        images = val_images(models[0][1], num_images)
        timers = [[_timer(task, net, cfg, img, rec) for img, rec in images] for net, cfg in models]
        for per_model in timers:
            for fwd, run in per_model:
                for _ in range(warmup):
                    fwd()
                    run()
        fwd_ms: List[List[float]] = [[], []]
        run_ms: List[List[float]] = [[], []]
        for _ in range(rounds):
            for i in range(len(images)):
                for m in range(2):
                    fwd, run = timers[m][i]
                    mx.nd.waitall()
                    t0 = time.perf_counter()
                    fwd()
                    fwd_ms[m].append(1e3 * (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    run()
                    run_ms[m].append(1e3 * (time.perf_counter() - t0))
        params = [count_params(net) for net, _ in models]
        (pp, pf), (dp, df) = paper_numbers.TABLE4[task]
        rows.append({"task": TASK_TITLES[task], "plain_params": params[0], "deformable_params": params[1],
                     "plain_forward_ms": float(np.median(fwd_ms[0])), "deformable_forward_ms": float(np.median(fwd_ms[1])),
                     "plain_runtime_ms": float(np.median(run_ms[0])), "deformable_runtime_ms": float(np.median(run_ms[1])),
                     "params_ratio": params[1] / params[0],
                     "forward_ratio": float(np.median(fwd_ms[1]) / np.median(fwd_ms[0])),
                     "paper_params_ratio": dp / pp, "paper_forward_ratio": df / pf, "samples": len(fwd_ms[0])})
    return rows


def table4_markdown(rows: Sequence[dict], note: str) -> str:
    lines = [note, "", "| network | parameters | network forward (ms) | runtime (ms) | deformable / plain: "
             "parameters, forward (ours \\| paper) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['plain_params'] / 1e6:.3f} M | {r['plain_forward_ms']:.1f} | "
                     f"{r['plain_runtime_ms']:.1f} | |")
        lines.append(f"| **deformable** {r['task']} | {r['deformable_params'] / 1e6:.3f} M | "
                     f"{r['deformable_forward_ms']:.1f} | {r['deformable_runtime_ms']:.1f} | "
                     f"x{r['params_ratio']:.3f}, x{r['forward_ratio']:.2f} \\| "
                     f"x{r['paper_params_ratio']:.3f}, x{r['paper_forward_ratio']:.2f} |")
    return "\n".join(lines)


