"""Model complexity and runtime of R-FCN variants (paper Table 4), measured in one run.

* parameters: the learnable ones (``dcn.modeling.params.count_params``, as the benchmarks count);
* network forward: backbone + RPN + R-FCN head on the image's proposals
  (computed beforehand, not timed), ``mx.nd.waitall`` included;
* total: from the decoded image to detections: resize + normalise, backbone,
  RPN proposals (with their NMS), head, per-class NMS.

Variants are timed interleaved (image by image, round by round), so that a
busy machine slows all of them alike; medians in milliseconds.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Dict, List, Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd
from tqdm import tqdm

from dcn.config import Config
from dcn.data.batching import det_sample_to_nd
from dcn.data.records import DetRecord

from dcn.detection.data import make_transform
from dcn.detection.inference import detect
from dcn.detection.params import detect_params
from dcn.detection.rpn import propose
from dcn.modeling.params import count_params

logger = logging.getLogger(__name__)


@dataclass
class RuntimeRow:
    name: str
    params: int
    forward_ms: float
    total_ms: float
    samples: int


def _prepare(cfg: Config, img: np.ndarray, ctx: mx.Context) -> Dict[str, mx.nd.NDArray]:
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    rec = DetRecord("image", "image", img.shape[0], img.shape[1])
    return det_sample_to_nd(transform(img, rec, flip=False), ctx)


def _proposals(net, batch: Dict[str, mx.nd.NDArray], cfg: Config) -> mx.nd.NDArray:
    p = detect_params(cfg)
    with autograd.predict_mode():
        _, logits, deltas, anchors = net(batch["data"])
        fg = 1 - mx.nd.softmax(logits, axis=-1)[:, :, 0]
        rois, _ = propose(anchors, fg, deltas, batch["im_info"], p.rpn_pre_nms_top_n, p.rpn_post_nms_top_n,
                          p.rpn_nms_thresh, p.rpn_min_size)
    return rois


def _time_forward(net, data: mx.nd.NDArray, rois: mx.nd.NDArray) -> float:
    mx.nd.waitall()
    t0 = time.perf_counter()
    with autograd.predict_mode():
        feat, logits, deltas, anchors = net(data)
        cls_score, bbox_pred = net.head_forward(feat, rois)
    for a in (logits, deltas, anchors, cls_score, bbox_pred):
        a.wait_to_read()
    return time.perf_counter() - t0


def _time_total(net, cfg: Config, img: np.ndarray, ctx: mx.Context) -> float:
    mx.nd.waitall()
    t0 = time.perf_counter()
    batch = _prepare(cfg, img, ctx)
    detect(net, batch["data"], batch["im_info"], detect_params(cfg))  # returns NumPy: synchronised
    return time.perf_counter() - t0


def measure(models: Dict[str, tuple], images: Sequence[np.ndarray], rounds: int = 3, warmup: int = 2,
            ctx: mx.Context = mx.cpu(), progress: bool = True) -> List[RuntimeRow]:
    """``models``: name -> (net, cfg). Every image is run ``warmup`` times untimed, then ``rounds`` times."""
    if not images:
        raise ValueError("runtime: no images to time")
    prepared = {}
    for name, (net, cfg) in models.items():
        for i, img in enumerate(images):
            batch = _prepare(cfg, img, ctx)
            prepared[name, i] = (batch, _proposals(net, batch, cfg))
            for _ in range(warmup):
                _time_forward(net, batch["data"], prepared[name, i][1])
                _time_total(net, cfg, img, ctx)
    fwd: Dict[str, List[float]] = {n: [] for n in models}
    tot: Dict[str, List[float]] = {n: [] for n in models}
    steps = [(r, i) for r in range(rounds) for i in range(len(images))]
    for _, i in tqdm(steps, desc="runtime", disable=not progress, leave=False):
        for name, (net, cfg) in models.items():
            batch, rois = prepared[name, i]
            fwd[name].append(_time_forward(net, batch["data"], rois))
            tot[name].append(_time_total(net, cfg, images[i], ctx))
    return [RuntimeRow(name, count_params(net), 1e3 * float(np.median(fwd[name])),
                       1e3 * float(np.median(tot[name])), len(fwd[name]))
            for name, (net, _) in models.items()]


def markdown(rows: Sequence[RuntimeRow], note: str = "") -> str:
    lines = ([note, ""] if note else []) + [
        "| variant | parameters | network forward (ms) | total incl. resize + NMS (ms) |",
        "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.params / 1e6:.2f} M | {r.forward_ms:.1f} | {r.total_ms:.1f} |")
    return "\n".join(lines)
