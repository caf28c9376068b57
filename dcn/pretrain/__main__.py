"""Pretrain a task's ResNet-v1 backbone on synthetic shape classification (the paper's ImageNet step).

    python -m dcn.pretrain --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml [--out PREFIX] [--epochs N]
        [--images-per-epoch N] [--batch-size B] [--lr LR] [--seed S] [--resume] [--threads T] [--workers W]

Writes ``PREFIX-0000.params`` (``arg:``/``aux:``, original MSRA names, classifier ``fc1000``) and
``PREFIX-0000.json``; use it with ``--set network.pretrained=PREFIX``. Default PREFIX:
``./model/pretrained_model/synthetic_resnet_v1_{depth}_w{div}``. ``--threads`` (default
``OMP_NUM_THREADS``, else the core count) is the CPU budget: with two or more, ``--workers`` (default 1 per
2 cores, at most 2) processes render crops and MXNet gets the remaining threads.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import List, Optional

from dcn.utils.env import set_default_threads

from .settings import PretrainSettings, default_workers

logger = logging.getLogger("dcn.pretrain")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m dcn.pretrain", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cfg", required=True, help="task YAML: its network.depth, width divisor and PIXEL_MEANS")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set network.depth=50 (repeatable)")
    ap.add_argument("--out", metavar="PREFIX",
                    help="output prefix (default ./model/pretrained_model/synthetic_resnet_v1_{depth}_w{div})")
    d = PretrainSettings()
    ap.add_argument("--epochs", type=int, help=f"default {d.epochs}")
    ap.add_argument("--images-per-epoch", type=int, help=f"fresh crops per epoch (default {d.images_per_epoch})")
    ap.add_argument("--repeats", type=int, help=f"passes over each pool of fresh crops (default {d.repeats})")
    ap.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    ap.add_argument("--lr", type=float, help=f"peak learning rate after the warmup, then cosine (default {d.lr})")
    ap.add_argument("--warmup-steps", type=int, help=f"default {d.warmup_steps}")
    ap.add_argument("--val-images", type=int, help=f"held-out crops, a fixed split (default {d.val_images})")
    ap.add_argument("--seed", type=int, help=f"default {d.seed}")
    ap.add_argument("--width-divisor", type=int, help="default: the task's (4 for the synthetic dataset)")
    ap.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an existing PREFIX-0000.params written by dcn.pretrain (moved to *.old-DATE)")
    ap.add_argument("--threads", type=int, help="CPU cores to use (default: OMP_NUM_THREADS, else all)")
    ap.add_argument("--workers", type=int, help="crop renderer processes (default: 1 per 2 threads, max 2)")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return ap


def main(argv: Optional[List[str]] = None) -> None:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    if args.workers is not None and args.workers < 0:
        ap.error(f"--workers must be >= 0, got {args.workers}")
    threads = args.threads or set_default_threads()
    workers = default_workers(threads) if args.workers is None else args.workers
    if "mxnet" not in sys.modules:  # MXNet reads it once, when imported: the cores the renderers leave
        os.environ["OMP_NUM_THREADS"] = str(max(1, threads - workers))

    from dcn.config import load_config
    from dcn.utils.logger import setup_logging

    from .settings import checkpoint_dir, default_prefix, info_path, params_path, read_info, settings_from_config
    try:
        cfg = load_config(args.cfg, args.overrides)
        settings = settings_from_config(
            cfg, epochs=args.epochs, images_per_epoch=args.images_per_epoch, repeats=args.repeats,
            batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, val_images=args.val_images,
            seed=args.seed, width_divisor=args.width_divisor).validate()
    except ValueError as err:  # ConfigError too: names the key, file and line
        ap.error(str(err))
    prefix = args.out or default_prefix(settings.depth, settings.width_divisor)
    if args.resume and args.overwrite:
        ap.error("--resume continues the earlier run and --overwrite replaces it: give one of them")
    existing = params_path(prefix)
    if existing.is_file() and not args.resume:
        if read_info(prefix) is None:  # a released ImageNet model, say: never replaced
            ap.error(f"{existing} exists and was not written by dcn.pretrain (no {Path(prefix).name}-0000.json "
                     "beside it); not overwriting it: choose another --out")
        if not args.overwrite:
            ap.error(f"{existing} exists (an earlier dcn.pretrain run); --resume continues that run, --overwrite "
                     "replaces it (the old files are moved to *.old-DATE), or choose another --out")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for old in (existing, info_path(prefix)):
            if old.is_file():
                old.rename(old.with_name(f"{old.name}.old-{stamp}"))
    setup_logging(checkpoint_dir(prefix), filename="pretrain.log")
    # SIGTERM (timeout, a scheduler) unwinds like Ctrl-C: the renderer processes are stopped, the epoch
    # checkpoints written so far stay, and --resume continues from them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from .train import pretrain
    info = pretrain(settings, prefix, resume=args.resume, workers=workers, progress=not args.no_progress,
                    command=[sys.executable, "-m", "dcn.pretrain", *(sys.argv[1:] if argv is None else argv)])
    print(f"top-1: {info['top1']:.2f}")


if __name__ == "__main__":
    main()
