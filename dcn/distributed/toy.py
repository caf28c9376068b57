"""A tiny synthetic regression trained by the engine: checks a (distributed) set-up end to end.

    python -m dcn.distributed.launcher -n 2 -s 1 -- \\
        python -m dcn.distributed.toy --output output/toy --kvstore dist_sync

Every worker trains on its shard (``DistSession.sampler``) with the engine's
``fit``; ``--dump-params`` makes each worker save its final parameters so they
can be compared; ``--die-at-step`` kills one worker to exercise the watchdog.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..config import Config, apply_overrides, config_from_text
from ..engine import fit, make_contexts
from ..utils.logger import setup_logging
from .cli import add_device_args
from .session import DistSession
from .shard import shard_indices

logger = logging.getLogger(__name__)

DIM, HIDDEN = 8, 16
LOSS_NORM = 16.0  # a constant, not the batch size: summed gradients then match one big batch exactly
Batch = Tuple[mx.nd.NDArray, mx.nd.NDArray]


def make_data(num_samples: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``x`` (N, DIM) and ``y = sin(x @ w)`` (N, 1), the same in every process."""
    rng = np.random.RandomState(seed)
    x = rng.randn(num_samples, DIM).astype(np.float32)
    w = rng.randn(DIM, 1).astype(np.float32) / np.sqrt(DIM)
    return x, np.sin(x @ w).astype(np.float32)


def build_net(ctx: Sequence[mx.Context], seed: int = 0) -> gluon.HybridBlock:
    """A two-layer MLP, initialized from ``seed``."""
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential(prefix="toy_")
    with net.name_scope():
        net.add(gluon.nn.Dense(HIDDEN, activation="tanh", in_units=DIM), gluon.nn.Dense(1, in_units=HIDDEN))
    net.initialize(mx.init.Xavier(), ctx=list(ctx))
    return net


def l2_loss(net: gluon.Block, batch: Batch) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
    x, y = batch
    loss = ((net(x) - y) ** 2).sum() / LOSS_NORM
    return loss, {"loss": loss}


def worker_batches(x: np.ndarray, y: np.ndarray, rank: int, num_workers: int, batch_size: int, *, seed: int,
                   epoch: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Worker ``rank``'s batches of ``epoch``: its shard in order, the incomplete last batch dropped."""
    idx = shard_indices(len(x), rank, num_workers, seed=seed, epoch=epoch)
    return [(x[idx[i:i + batch_size]], y[idx[i:i + batch_size]])
            for i in range(0, len(idx) - batch_size + 1, batch_size)]


def toy_config(output: str, *, epochs: int, batch_images: int, kvstore: str = "device", seed: int = 0,
               overrides: Sequence[str] = ()) -> Config:
    cfg = config_from_text("network:\n  FIXED_PARAMS: []\n")
    return apply_overrides(cfg, [f"output_path={output}", f"TRAIN.end_epoch={epochs}", "TRAIN.lr=0.05",
                                 "TRAIN.lr_step=[1]", "TRAIN.lr_factor=0.5", "TRAIN.wd=0.0001",
                                 f"TRAIN.BATCH_IMAGES={batch_images}", "TRAIN.model_prefix=toy",
                                 "default.frequent=2", f"default.kvstore={kvstore}", f"default.seed={seed}",
                                 *overrides])


def _epoch_source(x: np.ndarray, y: np.ndarray, session: DistSession, batch_size: int, seed: int,
                  die_at_step: Optional[int]) -> Callable[[int], List[Batch]]:
    steps = [0]

    def source(epoch: int) -> List[Batch]:
        out = []
        for bx, by in worker_batches(x, y, session.rank, session.num_workers, batch_size, seed=seed, epoch=epoch):
            out.append((mx.nd.array(bx), mx.nd.array(by)))
        return _maybe_die(out, steps, die_at_step) if die_at_step is not None else out
    return source


def _maybe_die(batches: List[Batch], steps: List[int], die_at_step: int):
    for batch in batches:  # a generator: the kill happens just before step ``die_at_step`` (0-based) runs
        if steps[0] == die_at_step:
            logger.warning("fault injection: killing this worker (pid %d) before step %d", os.getpid(), die_at_step)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
        steps[0] += 1
        yield batch


def main(argv: Optional[List[str]] = None) -> int:
    parser = add_device_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--output", required=True, help="output folder (shared by all workers)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64, help="samples in the whole dataset")
    parser.add_argument("--batch-images", type=int, default=4, help="samples per device per step")
    parser.add_argument("--cpu-devices", type=int, default=0, help="train on this many CPU contexts (testing)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dump-params", action="store_true", help="each worker saves final-rank<r>.npz")
    parser.add_argument("--die-at-step", type=int, default=None, help="fault injection: SIGKILL before this step")
    parser.add_argument("--die-rank", type=int, default=1, help="the worker --die-at-step kills")
    args = parser.parse_args(argv)
    setup_logging()  # console until fit() adds the output folder's train.log (worker 0)
    cfg = toy_config(args.output, epochs=args.epochs, batch_images=args.batch_images,
                     kvstore=args.kvstore or "device", overrides=args.overrides)
    if args.gpus is not None:
        cfg = apply_overrides(cfg, [f"gpus=[{','.join(map(str, args.gpus))}]"])
    ctx = [mx.cpu(i) for i in range(args.cpu_devices)] if args.cpu_devices else make_contexts(cfg.gpus)
    session = DistSession(cfg.default.kvstore, args.dist_timeout, args.dist_start_timeout)
    x, y = make_data(args.samples, cfg.default.seed)
    die = args.die_at_step if session.rank == args.die_rank else None
    data = _epoch_source(x, y, session, len(ctx) * cfg.TRAIN.BATCH_IMAGES, cfg.default.seed, die)
    # Different initial weights per worker on purpose: the job must start every worker from worker 0's.
    net = build_net(ctx, cfg.default.seed + 1000 * session.rank)
    fit(cfg, net, session.watch(l2_loss), data, args.samples, resume=args.resume, ctx=ctx, progress=False)
    session.finish()
    if args.dump_params:
        params = {k: v.data(ctx[0]).asnumpy() for k, v in net.collect_params().items()}
        np.savez(Path(args.output) / f"final-rank{session.rank}.npz", **params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
