"""The command line of every train entry point: --gpus, --kvstore, --dist-timeout with the config options, and
:func:`run_train_cli`, which parses them and runs a task's train function."""
from __future__ import annotations

import argparse
from typing import Any, Callable, List, Optional, Tuple

from ..config import Config, add_config_args, apply_overrides, config_from_args
from .session import DEFAULT_START_TIMEOUT_S, DEFAULT_TIMEOUT_S, DistSession

KVSTORES = ("local", "device", "dist_sync", "dist_device_sync")


def parse_gpus(text: str) -> List[int]:
    """``"0,1,2,3"`` -> ``[0, 1, 2, 3]``; ``""``/``"cpu"`` -> ``[]`` (train on the CPU)."""
    text = text.strip()
    if text.lower() in ("", "cpu", "none"):
        return []
    try:
        ids = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gpus expects ids like 0,1,2,3, got '{text}'") from None
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"--gpus expects distinct non-negative ids, got '{text}'")
    return ids


def add_device_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --gpus / --kvstore (overriding the config when given) and the dist_* watchdog timeouts."""
    parser.add_argument("--gpus", type=parse_gpus, default=None, metavar="IDS",
                        help="GPU ids, e.g. 0,1,2,3 ('' or cpu = CPU); overrides the config's gpus")
    parser.add_argument("--kvstore", choices=KVSTORES, default=None,
                        help="gradient aggregation: device/local on one machine, dist_sync over machines "
                             "(launched by experiments/dist_train.sh); overrides default.kvstore")
    parser.add_argument("--dist-timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help="with dist_*: abort when no training step finishes within S seconds "
                             "(a dead peer would otherwise hang the job; 0 = never)")
    parser.add_argument("--dist-start-timeout", type=float, default=DEFAULT_START_TIMEOUT_S, metavar="S",
                        help="with dist_*: abort when the job's nodes have not all started within S seconds")
    return parser


def apply_device_args(cfg: Config, args: argparse.Namespace) -> Config:
    """``cfg`` with ``gpus``/``default.kvstore`` replaced by the options that were given."""
    overrides = []
    if getattr(args, "gpus", None) is not None:
        overrides.append(f"gpus=[{','.join(map(str, args.gpus))}]")
    if getattr(args, "kvstore", None) is not None:
        overrides.append(f"default.kvstore={args.kvstore}")
    return apply_overrides(cfg, overrides) if overrides else cfg


def parse_train_config(argv: Optional[List[str]] = None, description: str = "") -> Tuple[Config, argparse.Namespace]:
    """(config, args) for a train entry point: --cfg/--set/--resume plus the device options."""
    parser = add_device_args(add_config_args(argparse.ArgumentParser(description=description)))
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an output_path that holds another run (moved to OUT.old-DATE)")
    args = parser.parse_args(argv)
    return apply_device_args(config_from_args(args), args), args


def run_train_cli(train_fn: Callable[..., Any], argv: Optional[List[str]] = None, description: str = "") -> Any:
    """``--cfg/--set/--resume/--overwrite --gpus/--kvstore/--dist-*`` (:func:`parse_train_config`), then
    ``train_fn(cfg, resume=..., overwrite=..., session=DistSession(...))``."""
    cfg, args = parse_train_config(argv, description=description)
    return train_fn(cfg, resume=args.resume, overwrite=args.overwrite,
                    session=DistSession(cfg.default.kvstore, args.dist_timeout, args.dist_start_timeout))
