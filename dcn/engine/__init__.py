"""Training engine: LR schedule, parameter freezing/lr_mult, loop, checkpoints, config-driven ``fit``."""
from .checkpoint import (Checkpoint, CheckpointError, find_last_checkpoint, list_checkpoints, load_checkpoint,
                         save_checkpoint, seed_everything, verify_checkpoint)
from .devices import make_contexts, split_batch
from .launch import build_trainer, fit
from .loop import TrainLoop
from .lr_scheduler import WarmupMultiFactorScheduler, build_lr_scheduler, epochs_to_updates
from .metrics import MetricTracker
from .params import freeze_params, set_lr_mult, trainable_params

__all__ = [
    "Checkpoint", "CheckpointError", "MetricTracker", "TrainLoop", "WarmupMultiFactorScheduler",
    "build_lr_scheduler", "build_trainer", "epochs_to_updates", "find_last_checkpoint", "fit",
    "freeze_params", "list_checkpoints", "load_checkpoint", "make_contexts", "save_checkpoint",
    "seed_everything", "set_lr_mult", "split_batch", "trainable_params", "verify_checkpoint",
]
