"""Benchmark shapes, data and timing shared by the CPU and GPU benchmarks (no MXNet here,
so the GPU benchmark runs where MXNet is not installed)."""
from __future__ import annotations

import json
import platform
import statistics
import time
from typing import Callable, Sequence

import numpy as np

# (N, C, H, W, F, dilation, deformable groups): the issues' shapes.
CONV_CASES = {
    "A": (1, 512, 38, 63, 512, 2, 1),   # res5 of R-FCN at 600x1000
    "B": (1, 512, 23, 30, 512, 2, 1),   # DeepLab VOC
    "C": (2, 64, 64, 64, 64, 1, 1),
    "D": (1, 512, 38, 63, 512, 2, 4),   # A with 4 deformable groups
}
# Each case at batch 8 (A8 .. D8).
BATCH8_CASES = {f"{k}8": (8,) + v[1:] for k, v in CONV_CASES.items()}
ALL_CONV_CASES = {**CONV_CASES, **BATCH8_CASES}

# R-FCN PS RoI pooling heads: (output_dim, trans classes): 300 RoIs on a 38x63 map,
# group = pooled = part = 7, sample_per_part 4, trans_std 0.1.
PSROI_CASES = {
    "coco_cls": (81, 81),      # trans (300, 162, 7, 7)
    "voc_cls": (21, 21),       # trans (300, 42, 7, 7)
    "coco_cls_agnostic": (81, 1),
    "bbox8": (8, 1),
}


def conv_case(name: str) -> tuple:
    """The shape tuple of a conv case; a ValueError names the known cases."""
    if name not in ALL_CONV_CASES:
        raise ValueError(f"unknown conv case {name!r}; known: {', '.join(ALL_CONV_CASES)}")
    return ALL_CONV_CASES[name]


def conv_data(case: tuple, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 x, offset (uniform [-2, 2]), mask (uniform [0, 1]) and weight for a conv case."""
    N, C, H, W, F, dil, dg = case
    rng = np.random.RandomState(seed)
    f32 = np.float32
    return dict(x=rng.randn(N, C, H, W).astype(f32),
                offset=rng.uniform(-2, 2, (N, 2 * dg * 9, H, W)).astype(f32),
                mask=rng.uniform(0, 1, (N, dg * 9, H, W)).astype(f32),
                weight=(rng.randn(F, C, 3, 3) * 0.01).astype(f32))


def random_rois(rng: np.random.RandomState, n: int, height: int, width: int) -> np.ndarray:
    """RoIs in image pixels (feature stride 16) of varied size, [0, x1, y1, x2, y2]."""
    x1 = rng.uniform(0, width * 16 * 0.8, n)
    y1 = rng.uniform(0, height * 16 * 0.8, n)
    w = rng.uniform(16, width * 16 * 0.5, n)
    h = rng.uniform(16, height * 16 * 0.5, n)
    return np.stack([np.zeros(n), x1, y1, np.minimum(x1 + w, width * 16 - 1),
                     np.minimum(y1 + h, height * 16 - 1)], 1)


def psroi_data(case: str, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    """float32 data, rois, trans and the op attributes of a PS RoI pooling case."""
    out_dim, classes = PSROI_CASES[case]
    rng = np.random.RandomState(seed)
    H, W, R, k = 38, 63, 300, 7
    arrays = dict(data=rng.randn(1, out_dim * k * k, H, W).astype(np.float32),
                  rois=random_rois(rng, R, H, W).astype(np.float32),
                  trans=(rng.randn(R, 2 * classes, k, k) * 0.5).astype(np.float32))
    attrs = dict(spatial_scale=1 / 16, output_dim=out_dim, group_size=k, pooled_size=k, part_size=k,
                 sample_per_part=4, trans_std=0.1)
    return arrays, attrs


def interleaved_medians(fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 1,
                        budget_s: float = 60.0, pause_s: float = 0.002) -> dict[str, float]:
    """Median wall-clock ms of each callable, timed in interleaved rounds (one call of each
    per round), so that load changes on a shared machine hit every contender alike.
    At least 3 rounds; more up to ``repeats`` while within ``budget_s``. An untimed pause
    before each call lets the previous runtime's spinning worker threads (OpenMP, ONNX
    Runtime, TBB) go to sleep instead of competing for the cores."""
    for fn in fns.values():
        for _ in range(warmup):
            time.sleep(pause_s)
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    for r in range(repeats):
        if r >= 3 and time.perf_counter() - start > budget_s:
            break
        for name, fn in fns.items():
            time.sleep(pause_s)
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def cpu_description() -> str:
    """The CPU's model name and its widest vector extension (the kernels are built for the build
    machine's, -march=native): which code paths the timings measure. Linux only; else the platform."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isa = next((name for name in ("avx512f", "avx2") if name in flags), "no AVX2")
    return f"{model} ({isa})"


def fmt(v, pattern: str = "{:.1f}") -> str:
    return "n/a" if v is None else pattern.format(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def report(header: str, table: str, rows: list[dict], json_path: str | None) -> None:
    """Print the header line and the markdown table; also write both as JSON when asked."""
    print(header)
    print(table)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(header=header, rows=rows), f, indent=1)
