"""Frozen parameters (FIXED_PARAMS patterns) and per-parameter lr multipliers."""
from __future__ import annotations

import logging
import re
from typing import Dict, Iterable, List, Mapping

from mxnet import gluon

logger = logging.getLogger(__name__)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    # re.search: a plain word such as 'gamma' matches anywhere, like the original's substring test.
    return any(re.search(p, name) for p in patterns)


def freeze_params(params: gluon.ParameterDict, patterns: Iterable[str]) -> List[str]:
    """Set ``grad_req='null'`` on every parameter whose name matches one of ``patterns``.

    Returns the frozen names. Call before creating the Trainer (it keeps only trainable ones).
    """
    patterns = list(patterns)
    frozen = [name for name in params.keys() if _matches(name, patterns)]
    for name in frozen:
        params[name].grad_req = "null"
    unused = [p for p in patterns if not any(re.search(p, n) for n in params.keys())]
    if unused:
        logger.warning("FIXED_PARAMS patterns matching no parameter: %s", unused)
    logger.info("froze %d of %d parameters", len(frozen), len(params.keys()))
    return frozen


def set_lr_mult(params: gluon.ParameterDict, multipliers: Mapping[str, float]) -> Dict[str, float]:
    """``param.lr_mult = m`` for names matching pattern ``p`` in ``{p: m}`` (first match wins).

    The optimizer multiplies the scheduled lr by ``Parameter.lr_mult``. Returns {name: mult} set.
    """
    applied = {}
    for name, param in params.items():
        for pattern, mult in multipliers.items():
            if re.search(pattern, name):
                param.lr_mult = float(mult)
                applied[name] = float(mult)
                break
    return applied


def trainable_params(params: gluon.ParameterDict) -> Dict[str, gluon.Parameter]:
    """Parameters that receive gradients, in a stable (sorted) order for the Trainer and its states."""
    return {name: params[name] for name in sorted(params.keys()) if params[name].grad_req != "null"}
