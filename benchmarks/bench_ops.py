"""Times our operators against MXNet's contrib ops and dense Convolution, in one run:
deformable / modulated convolution (cases A-D) and the R-FCN PS RoI pooling heads.

    python -m benchmarks.bench_ops                # all cases, markdown table
    python -m benchmarks.bench_ops --cases A,C --repeats 5 --json out.json

Medians of wall-clock ms after warm-up; fwd+bwd = forward plus backward to
data, offset (and mask) and weight. Offsets uniform in [-2, 2], float32, NCHW.
Uses every core unless OMP_NUM_THREADS is set.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

import operators  # noqa: E402

LOG = logging.getLogger("bench_ops")

# (N, C, H, W, F, dilation, deformable groups): the shapes.
CONV_CASES = {
    "A": (1, 512, 38, 63, 512, 2, 1),   # res5 of R-FCN at 600x1000
    "B": (1, 512, 23, 30, 512, 2, 1),   # DeepLab VOC
    "C": (2, 64, 64, 64, 64, 1, 1),
    "D": (1, 512, 38, 63, 512, 2, 4),   # A with 4 deformable groups
}


def median_ms(fn: Callable[[], None], repeats: int, warmup: int = 2, budget_s: float = 20.0) -> float:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def _runner(op: Callable, inputs: list, attrs: dict, backward: bool) -> Callable[[], None]:
    if not backward:
        def run():
            op(*inputs, **attrs).wait_to_read()
        return run
    for a in inputs:
        a.attach_grad()

    def run_fb():
        with mx.autograd.record():
            y = op(*inputs, **attrs)
        y.backward()
        mx.nd.waitall()
    return run_fb


def conv_rows(case: str, repeats: int) -> list[dict]:
    N, C, H, W, F, dil, dg = CONV_CASES[case]
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.randn(N, C, H, W))
    off = mx.nd.array(rng.uniform(-2, 2, (N, 2 * dg * 9, H, W)))
    mask = mx.nd.array(rng.uniform(0, 1, (N, dg * 9, H, W)))
    w = mx.nd.array(rng.randn(F, C, 3, 3) * 0.01)
    conv = dict(kernel=(3, 3), pad=(dil, dil), dilate=(dil, dil), num_filter=F, no_bias=True)
    deform = dict(conv, num_deformable_group=dg)
    ops = [
        ("deformable (ours)", mx.nd.DeformableConvolution, [x, off, w], deform, True),
        ("deformable (contrib)", mx.nd.contrib.DeformableConvolution, [x, off, w], deform, True),
        ("modulated (ours)", mx.nd.ModulatedDeformableConvolution, [x, off, mask, w], deform, True),
        # contrib's modulated op has no CPU backward in MXNet 1.9.1
        ("modulated (contrib)", mx.nd.contrib.ModulatedDeformableConvolution, [x, off, mask, w], deform, False),
        ("dense Convolution", mx.nd.Convolution, [x, w], conv, True),
    ]
    rows = []
    for name, op, inputs, attrs, has_bwd in ops:
        inputs = [a.copy() for a in inputs]
        fwd = median_ms(_runner(op, inputs, attrs, False), repeats)
        fb = median_ms(_runner(op, inputs, attrs, True), repeats) if has_bwd else None
        rows.append(dict(case=case, op=name, fwd_ms=fwd, fwdbwd_ms=fb))
        LOG.info("%s %-22s fwd %8.1f ms  fwd+bwd %s", case, name, fwd, f"{fb:8.1f} ms" if fb else "n/a")
    dense = rows[-1]
    contrib = {r["op"].split(" ")[0]: r for r in rows if "contrib" in r["op"]}
    for r in rows:
        r["fwd_vs_dense"] = r["fwd_ms"] / dense["fwd_ms"]
        r["fwdbwd_vs_dense"] = r["fwdbwd_ms"] / dense["fwdbwd_ms"] if r["fwdbwd_ms"] else None
        ref = contrib.get(r["op"].split(" ")[0])
        if "ours" in r["op"] and ref:
            r["fwd_speedup_vs_contrib"] = ref["fwd_ms"] / r["fwd_ms"]
            r["fwdbwd_speedup_vs_contrib"] = (ref["fwdbwd_ms"] / r["fwdbwd_ms"]
                                              if ref["fwdbwd_ms"] and r["fwdbwd_ms"] else None)
    return rows


# R-FCN PS RoI pooling heads: (output_dim, trans classes): 300 RoIs on a 38x63 map,
# group = pooled = part = 7, sample_per_part 4, trans_std 0.1.
PSROI_CASES = {
    "coco_cls": (81, 81),      # trans (300, 162, 7, 7)
    "voc_cls": (21, 21),       # trans (300, 42, 7, 7)
    "coco_cls_agnostic": (81, 1),
    "bbox8": (8, 1),
}


def random_rois(rng: np.random.RandomState, n: int, height: int, width: int) -> np.ndarray:
    """RoIs in image pixels (feature stride 16) of varied size, [0, x1, y1, x2, y2]."""
    x1 = rng.uniform(0, width * 16 * 0.8, n)
    y1 = rng.uniform(0, height * 16 * 0.8, n)
    w = rng.uniform(16, width * 16 * 0.5, n)
    h = rng.uniform(16, height * 16 * 0.5, n)
    return np.stack([np.zeros(n), x1, y1, np.minimum(x1 + w, width * 16 - 1),
                     np.minimum(y1 + h, height * 16 - 1)], 1)


def psroi_rows(case: str, repeats: int) -> list[dict]:
    out_dim, classes = PSROI_CASES[case]
    rng = np.random.RandomState(0)
    H, W, R, k = 38, 63, 300, 7
    data = mx.nd.array(rng.randn(1, out_dim * k * k, H, W))
    rois = mx.nd.array(random_rois(rng, R, H, W))
    trans = mx.nd.array(rng.randn(R, 2 * classes, k, k) * 0.5)
    attrs = dict(spatial_scale=1 / 16, output_dim=out_dim, group_size=k, pooled_size=k, part_size=k,
                 sample_per_part=4, trans_std=0.1)
    rows = []
    for name, op in (("PS RoI pooling (ours)", mx.nd.DeformablePSROIPooling),
                     ("PS RoI pooling (contrib)", mx.nd.contrib.DeformablePSROIPooling)):
        inputs = [data.copy(), rois.copy(), trans.copy()]
        fwd = median_ms(_runner(op, inputs, attrs, False), repeats)
        fb = median_ms(_runner(op, inputs, attrs, True), repeats)
        rows.append(dict(case=f"{case} {tuple(trans.shape)}", op=name, fwd_ms=fwd, fwdbwd_ms=fb))
        LOG.info("%s %-26s fwd %8.1f ms  fwd+bwd %8.1f ms", case, name, fwd, fb)
    ours, ref = rows
    ours["fwd_speedup_vs_contrib"] = ref["fwd_ms"] / ours["fwd_ms"]
    ours["fwdbwd_speedup_vs_contrib"] = ref["fwdbwd_ms"] / ours["fwdbwd_ms"]
    return rows


def _fmt(v, pattern="{:.1f}"):
    return "n/a" if v is None else pattern.format(v)


def report(header: str, table: str, rows: list[dict], json_path: str | None) -> None:
    """Print the header line and the markdown table; also write both as JSON when asked."""
    print(header)
    print(table)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(header=header, rows=rows), f, indent=1)


def markdown(rows: list[dict]) -> str:
    lines = ["| case | op | fwd ms | fwd+bwd ms | fwd / dense | fwd+bwd / dense | speed-up vs contrib (fwd / fwd+bwd) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = ""
        if "fwd_speedup_vs_contrib" in r:
            speed = f"{r['fwd_speedup_vs_contrib']:.2f}x / {_fmt(r.get('fwdbwd_speedup_vs_contrib'), '{:.2f}x')}"
        lines.append(f"| {r['case']} | {r['op']} | {_fmt(r['fwd_ms'])} | {_fmt(r['fwdbwd_ms'])} | "
                     f"{_fmt(r.get('fwd_vs_dense'), '{:.2f}')} | {_fmt(r.get('fwdbwd_vs_dense'), '{:.2f}')} | {speed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CONV_CASES), help="conv cases, e.g. A,C ('' for none)")
    parser.add_argument("--psroi", default=",".join(PSROI_CASES), help="PS RoI pooling cases ('' for none)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    operators.load()
    rows = []
    for case in filter(None, args.cases.split(",")):
        rows += conv_rows(case.strip(), args.repeats)
    for case in filter(None, args.psroi.split(",")):
        rows += psroi_rows(case.strip(), args.repeats)
    header = (f"mxnet {mx.__version__}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    report(header, markdown(rows), rows, args.json)


if __name__ == "__main__":
    main()
