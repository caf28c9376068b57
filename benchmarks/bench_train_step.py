"""One training step of the synthetic R-FCN, plain vs deformable (paper Table 4's ratio, for training):
forward + loss + backward + SGD update on the same images, median wall-clock ms after warm-up,
plain and deformable interleaved step by step so that load from other processes hits both alike.

    OMP_NUM_THREADS=2 python -m benchmarks.bench_train_step [--steps 12] [--cfg CFG]
    DCN_OPS_LIBRARY=/path/to/older/libdcn_ops.so python -m benchmarks.bench_train_step   # another build

Plain = the config with network.num_deformable_layers=0 and network.deformable_psroi=false (dilated
res5, PS RoI pooling without offsets), as the quickstart's baseline. Weights: the config's (the
synthetic-pretrained backbone), so offsets are the trained-from-zero ones of step 0: the deformable
layers' offset convs start at zero, which samples the regular grid (same work as any offsets).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import mxnet as mx  # noqa: E402  (after OMP_NUM_THREADS)
from mxnet import autograd, gluon  # noqa: E402

import operators  # noqa: E402
from dcn.config import load_config  # noqa: E402
from dcn.detection.loss import detector_loss  # noqa: E402
from dcn.detection.params import train_params  # noqa: E402
from dcn.detection.proposals import sample_to_nd  # noqa: E402
from dcn.detection.training import build_for_training, training_dataset  # noqa: E402
from dcn.engine.params import freeze_params  # noqa: E402

LOG = logging.getLogger("bench_train_step")
CFG = "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"
PLAIN = ["network.num_deformable_layers=0", "network.deformable_psroi=false"]


def make_step(cfg_path: str, overrides: list):
    import numpy as np

    cfg = load_config(cfg_path, overrides)
    ctx = [mx.cpu()]
    net = build_for_training(cfg, ctx)
    params = net.collect_params()
    freeze_params(params, cfg.network.FIXED_PARAMS)
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 1e-4, "momentum": 0.9, "wd": 1e-4})
    data = training_dataset(cfg, net)
    tp = train_params(cfg)

    def step(i: int) -> float:
        batch = sample_to_nd(data[i % len(data)])
        mx.nd.waitall()
        t0 = time.perf_counter()
        with autograd.record():
            loss, _ = detector_loss(net, batch, tp, np.random.default_rng(i))
        loss.backward()
        trainer.step(1)
        mx.nd.waitall()
        return (time.perf_counter() - t0) * 1e3
    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=CFG)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per network (after 3 warm-up steps)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    operators.load()
    steps = {"plain": make_step(args.cfg, PLAIN), "deformable": make_step(args.cfg, [])}
    times = {k: [] for k in steps}
    for i in range(3 + args.steps):
        for name, step in steps.items():
            ms = step(i)
            if i >= 3:
                times[name].append(ms)
    med = {k: statistics.median(v) for k, v in times.items()}
    LOG.info("library %s, OMP_NUM_THREADS=%s, %d steps each", operators.LIBRARY_PATH, os.environ["OMP_NUM_THREADS"],
             args.steps)
    for k, v in med.items():
        LOG.info("%-10s train step %8.1f ms (median; min %.1f, max %.1f)", k, v, min(times[k]), max(times[k]))
    LOG.info("deformable / plain: %.2fx", med["deformable"] / med["plain"])


if __name__ == "__main__":
    main()
