"""Command-line glue shared by the entry points: --cfg, --set KEY=VALUE (repeatable), --resume."""
from __future__ import annotations

import argparse
from typing import List, Optional

from .loader import load_config
from .schema import Config


def add_config_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--cfg", required=True, help="experiment YAML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set TRAIN.lr=0.001 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last complete checkpoint in output_path")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.cfg, args.overrides)


def parse_config(argv: Optional[List[str]] = None, description: str = "") -> tuple:
    """(config, args) from the command line."""
    args = add_config_args(argparse.ArgumentParser(description=description)).parse_args(argv)
    return config_from_args(args), args
