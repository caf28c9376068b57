"""Write the effective config back to YAML (re-loadable with load_config)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Union

import yaml

from ..utils.fileio import atomic_write_text
from .checks import check
from .schema import Config
from .typed import build


def config_to_dict(cfg: Config) -> Dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(data: Dict[str, Any]) -> Config:
    """Inverse of :func:`config_to_dict` (typed and checked, e.g. from a checkpoint manifest)."""
    cfg = build(Config, data)
    check(cfg)
    return cfg


def config_to_yaml(cfg: Config) -> str:
    header = (f"# effective config (derived: network.NUM_ANCHORS = {cfg.network.NUM_ANCHORS}, "
              f"test scales = {cfg.test_scales})\n")
    return header + yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None, width=100)


CONFIG_FILE_NAME = "config.yaml"  # the effective config training writes next to its checkpoints


def dump_config(cfg: Config, output_dir: Union[str, Path], name: str = CONFIG_FILE_NAME) -> Path:
    """Atomically write ``output_dir/name`` and return its path."""
    return atomic_write_text(Path(output_dir) / name, config_to_yaml(cfg))
