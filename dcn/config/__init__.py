"""Typed experiment configs: schema, YAML loading with located errors, overrides, dump."""
from .cli import (add_config_args, add_trained_model_args, config_from_args, parse_config, trained_config,
                  trained_config_path)
from .dump import config_from_dict, config_to_dict, config_to_yaml, dump_config
from .errors import ConfigError
from .loader import apply_overrides, config_from_text, load_config
from .schema import (Config, DatasetConfig, DefaultConfig, NetworkConfig, TestConfig,
                     TrainConfig)

__all__ = [
    "Config", "ConfigError", "DatasetConfig", "DefaultConfig", "NetworkConfig", "TestConfig",
    "TrainConfig", "add_config_args", "apply_overrides", "config_from_args", "config_from_dict",
    "config_from_text", "config_to_dict", "config_to_yaml", "dump_config", "load_config", "parse_config",
]
