"""Forward time and size of deformable vs plain DeepLab (ResNet-101), in one run (paper Table 4).

    python -m benchmarks.bench_deeplab                      # VOC 1x3x360x480 and Cityscapes 1x3x1024x2048
    python -m benchmarks.bench_deeplab --cityscapes 512x1024 --repeats 3

Plain: conv5 dilated 2, no deformable layer; deformable: res5a/b/c deformable
(one offset group, the original DeepLab). Random weights; the offset convs
get small random weights and biases uniform in [-2, 2] so that sampling is
fractional (zero offsets would sample the regular grid). Median wall-clock
seconds of the whole forward (including the upsampling to the input size)
after one warm-up run, plain and deformable interleaved so that load from
other processes hits both alike. Uses every core unless OMP_NUM_THREADS is set.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time
from typing import Dict, List, Tuple

import mxnet as mx
from tqdm import tqdm

import operators
from dcn.modeling.scratch_init import PIXEL_STD
from deeplab.model import DeepLab, DeepLabSpec

LOG = logging.getLogger("bench_deeplab")

# paper Table 4 (K40 GPU): (params M, net forward s) for plain / ours
PAPER = {"VOC": ((46.0, 0.084), (46.1, 0.088)), "Cityscapes": ((46.0, 0.610), (46.1, 0.656))}
CLASSES = {"VOC": 21, "Cityscapes": 19}


def build(num_classes: int, num_deformable_layers: int, depth: int, seed: int = 0) -> DeepLab:
    mx.random.seed(seed)
    net = DeepLab(DeepLabSpec(num_classes, depth=depth, num_deformable_layers=num_deformable_layers,
                              input_scale=1.0 / PIXEL_STD))
    net.initialize_weights(scratch=True)  # well-scaled activations from random weights
    for name, p in net.collect_params(".*offset_(weight|bias)").items():
        shape = p.shape
        p.set_data(mx.nd.random.uniform(-2, 2, shape) if name.endswith("bias")
                   else mx.nd.random.normal(0, 1e-3, shape))
    net.hybridize(static_alloc=True)
    return net


def count_params(net: DeepLab) -> int:
    """Learnable parameters (BatchNorm statistics and the fixed upsampling kernel excluded)."""
    return sum(p.data().size for name, p in net.collect_params().items()
               if not name.endswith(("running_mean", "running_var", "upsampling_weight")))


def time_forward(nets: Dict[str, DeepLab], shape: Tuple[int, ...], repeats: int) -> Dict[str, float]:
    x = mx.nd.random.uniform(-100, 100, shape)
    for net in nets.values():  # warm-up: graph creation and memory planning
        net(x).wait_to_read()
    times: Dict[str, List[float]] = {k: [] for k in nets}
    for _ in tqdm(range(repeats), desc=f"{shape}", leave=False):
        for name, net in nets.items():
            tic = time.perf_counter()
            net(x).wait_to_read()
            times[name].append(time.perf_counter() - tic)
    return {k: statistics.median(v) for k, v in times.items()}


def parse_hw(text: str) -> Tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voc", type=parse_hw, default=(360, 480), help="VOC input HxW")
    ap.add_argument("--cityscapes", type=parse_hw, default=(1024, 2048), help="Cityscapes input HxW")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--depth", type=int, default=101)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    operators.load()
    rows = []
    for dataset, hw in (("VOC", args.voc), ("Cityscapes", args.cityscapes)):
        nets = {"plain": build(CLASSES[dataset], 0, args.depth), "deformable": build(CLASSES[dataset], 3, args.depth)}
        sizes = {k: count_params(n) for k, n in nets.items()}
        LOG.info("%s %s: timing %d repeats", dataset, hw, args.repeats)
        secs = time_forward(nets, (1, 3) + hw, args.repeats)
        rows.append((dataset, hw, sizes, secs))
        del nets
    print(f"mxnet {mx.__version__}, {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, ResNet-{args.depth}, "
          f"median of {args.repeats} forwards after 1 warm-up")
    print("| dataset | input | model | params (M) | forward (s) | deformable / plain | paper K40 (s) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for dataset, (h, w), sizes, secs in rows:
        for i, name in enumerate(("plain", "deformable")):
            ratio = f"{secs['deformable'] / secs['plain']:.3f}" if name == "deformable" else ""
            paper = PAPER[dataset][i][1]
            paper_ratio = f" ({PAPER[dataset][1][1] / PAPER[dataset][0][1]:.3f})" if name == "deformable" else ""
            print(f"| {dataset} | 1x3x{h}x{w} | {name} | {sizes[name] / 1e6:.2f} | {secs[name]:.3f} | {ratio} | "
                  f"{paper:.3f}{paper_ratio} |")


if __name__ == "__main__":
    main()
