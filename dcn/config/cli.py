"""Command-line glue shared by the entry points: --cfg, --set KEY=VALUE (repeatable), --resume; for the
entry points that start from trained parameters (demos, figures): --params and the config beside them."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

from .dump import CONFIG_FILE_NAME
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


def add_trained_model_args(parser: argparse.ArgumentParser, params_help: str = "trained parameters "
                           "(<prefix>-<epoch>.params)") -> argparse.ArgumentParser:
    """``--params``, ``--cfg`` (default: the config.yaml training wrote next to ``--params``), ``--set``."""
    parser.add_argument("--params", required=True, help=params_help)
    parser.add_argument("--cfg", default=None, help=f"experiment YAML (default: {CONFIG_FILE_NAME} next to --params)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def trained_config_path(args: argparse.Namespace) -> Path:
    """``--cfg``, or the config.yaml next to ``--params``."""
    return Path(args.cfg) if args.cfg else Path(args.params).parent / CONFIG_FILE_NAME


def trained_config(args: argparse.Namespace) -> Config:
    return load_config(trained_config_path(args), args.overrides)


def parse_config(argv: Optional[List[str]] = None, description: str = "") -> tuple:
    """(config, args) from the command line."""
    args = add_config_args(argparse.ArgumentParser(description=description)).parse_args(argv)
    return config_from_args(args), args
