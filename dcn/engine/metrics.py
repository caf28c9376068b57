"""Running means of named scalars (losses, accuracies) over a window and over the epoch."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, Mapping, Union

import mxnet as mx
import numpy as np

Scalar = Union[float, int, np.ndarray, mx.nd.NDArray]


def to_float(value: Scalar) -> float:
    if isinstance(value, mx.nd.NDArray):
        return float(value.mean().asscalar())
    return float(np.mean(value))


class MetricTracker:
    """``update({'loss': x, ...})`` per batch; ``window()`` since the last ``reset_window``; ``epoch()``."""

    def __init__(self) -> None:
        self._epoch_sum: Dict[str, float] = defaultdict(float)
        self._epoch_n: Dict[str, int] = defaultdict(int)
        self._win_sum: Dict[str, float] = defaultdict(float)
        self._win_n: Dict[str, int] = defaultdict(int)

    def update(self, values: Mapping[str, Scalar]) -> None:
        for name, value in values.items():
            v = to_float(value)
            self._epoch_sum[name] += v
            self._epoch_n[name] += 1
            self._win_sum[name] += v
            self._win_n[name] += 1

    def window(self) -> Dict[str, float]:
        return {k: self._win_sum[k] / self._win_n[k] for k in self._win_sum if self._win_n[k]}

    def reset_window(self) -> None:
        self._win_sum.clear()
        self._win_n.clear()

    def epoch(self) -> Dict[str, float]:
        return {k: self._epoch_sum[k] / self._epoch_n[k] for k in self._epoch_sum if self._epoch_n[k]}


def format_metrics(values: Mapping[str, float]) -> str:
    return "  ".join(f"{k}={v:.5g}" for k, v in values.items())
