"""Moved to ``dcn.detection.loss`` (kept until ``rfcn.train`` imports it from there)."""
from dcn.detection.loss import TrainParams, detector_loss  # noqa: F401
