"""Device list from the config, and splitting a batch over it."""
from __future__ import annotations

import logging
from typing import Any, List, Sequence

import mxnet as mx
import numpy as np
from mxnet.gluon.utils import split_and_load

logger = logging.getLogger(__name__)


def make_contexts(gpus: Sequence[int]) -> List[mx.Context]:
    """``[mx.gpu(i) ...]`` for the listed ids, or ``[mx.cpu()]`` when none are listed or available."""
    if not gpus:
        return [mx.cpu()]
    available = mx.context.num_gpus()
    if available == 0:
        logger.warning("config asks for GPUs %s but none is available; training on the CPU", list(gpus))
        return [mx.cpu()]
    missing = [g for g in gpus if g >= available]
    if missing:
        raise ValueError(f"GPU ids {missing} requested but only {available} GPU(s) present")
    return [mx.gpu(g) for g in gpus]


def split_batch(batch: Any, ctx_list: Sequence[mx.Context]) -> List[Any]:
    """Split every array of ``batch`` (an array, or a tuple/list/dict of arrays) along axis 0.

    Returns one batch of the same structure per device (fewer devices if the batch is smaller).
    Non-array entries are passed to every device unchanged.
    """
    n = len(ctx_list)
    if isinstance(batch, (mx.nd.NDArray, np.ndarray)):
        if isinstance(batch, np.ndarray):
            batch = mx.nd.array(batch, dtype=batch.dtype)
        k = min(n, batch.shape[0])
        return split_and_load(batch, ctx_list[:k], batch_axis=0, even_split=False)
    if isinstance(batch, dict):
        parts = {key: split_batch(v, ctx_list) for key, v in batch.items()}
        k = min(len(p) for p in parts.values())
        return [{key: p[i] for key, p in parts.items()} for i in range(k)]
    if isinstance(batch, (tuple, list)):
        parts = [split_batch(v, ctx_list) for v in batch]
        k = min(len(p) for p in parts)
        return [type(batch)(p[i] for p in parts) for i in range(k)]
    return [batch] * n


def batch_size_of(batch: Any) -> int:
    """Samples in ``batch``: axis 0 of its first array (1 if it holds none)."""
    if isinstance(batch, (mx.nd.NDArray, np.ndarray)):
        return int(batch.shape[0])
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else []
    for item in items:
        size = batch_size_of(item)
        if size:
            return size
    return 1
