"""Process environment defaults; import and call before ``import mxnet``."""
from __future__ import annotations

import os


def set_default_threads(num_threads: int = 0) -> int:
    """Set ``OMP_NUM_THREADS`` to the core count (or ``num_threads``) unless the user already set it.

    MXNet reads it once when it is imported, so entry points call this first.
    Returns the effective value.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        try:
            cores = len(os.sched_getaffinity(0))  # respects taskset / container CPU limits
        except AttributeError:
            cores = os.cpu_count() or 1
        os.environ["OMP_NUM_THREADS"] = str(num_threads or cores)
    return int(os.environ["OMP_NUM_THREADS"])
