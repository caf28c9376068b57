"""Several devices and several machines on MXNet's KVStore: device options, dist_sync jobs, sharding, watchdog.

See docs/distributed.md. ``launcher`` (local jobs) and ``toy`` (a synthetic task
for checking a job end to end) are imported on demand.
"""
from .cli import add_device_args, apply_device_args, parse_gpus, parse_train_config, run_train_cli
from .epoch_data import epoch_loader
from .env import current_role, dmlc_env, free_port
from .kvstore import (barrier, cached_kvstore, is_distributed, num_workers, resolve_kvstore, sync_initial_params,
                      worker_rank)
from .session import DEFAULT_START_TIMEOUT_S, DEFAULT_TIMEOUT_S, DistSession
from .shard import ShardBatchSampler, ShardSampler, shard_indices
from .watchdog import WATCHDOG_EXIT_CODE, WATCHDOG_MESSAGE, Watchdog

__all__ = [
    "DEFAULT_START_TIMEOUT_S", "DEFAULT_TIMEOUT_S", "DistSession", "ShardBatchSampler", "ShardSampler", "WATCHDOG_EXIT_CODE",
    "WATCHDOG_MESSAGE", "Watchdog", "add_device_args", "apply_device_args", "barrier", "cached_kvstore",
    "current_role", "dmlc_env", "epoch_loader", "free_port", "is_distributed", "num_workers", "parse_gpus", "parse_train_config",
    "resolve_kvstore", "run_train_cli", "shard_indices", "sync_initial_params", "worker_rank",
]
