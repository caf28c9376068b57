"""Moved to ``dcn.detection.data`` (kept until ``rfcn.train`` imports it from there)."""
from dcn.detection.data import train_dataset  # noqa: F401
