"""Divergence guards: NaN/inf weights stop training with one clear message and are never saved.

The loss metrics alone cannot see every divergence: a softmax loss clipped for the
metric reads ln(num_classes) when the scores are NaN (R-FCN at ``TRAIN.lr=1000``
logged ``RCNNLogLoss=1.9459`` over NaN weights), so the weights themselves are checked.
"""
from __future__ import annotations

from typing import Dict, List

import mxnet as mx
import numpy as np
from mxnet import gluon


class NonFiniteWeightsError(FloatingPointError):
    """Training diverged: some parameters are NaN/inf; nothing was written."""


def non_finite_arrays(arrays: Dict[str, mx.nd.NDArray]) -> List[str]:
    """Names of the arrays holding NaN or inf."""
    return [k for k, v in arrays.items() if not np.isfinite(v.asnumpy()).all()]


def non_finite_params(net: gluon.Block) -> List[str]:
    """Names of the initialized parameters of ``net`` holding NaN or inf (first device's copy)."""
    bad = []
    for name, param in net.collect_params().items():
        if param._data is None:  # deferred init not done yet: nothing to check
            continue
        if not np.isfinite(param.data(param.list_ctx()[0]).asnumpy()).all():
            bad.append(name)
    return bad


def check_finite_params(net: gluon.Block, where: str, hint: str = "lower TRAIN.lr or check the data") -> None:
    """Raise :class:`NonFiniteWeightsError` naming ``where`` and the first bad parameters."""
    bad = non_finite_params(net)
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise NonFiniteWeightsError(f"{where}: training diverged, {len(bad)} parameters hold NaN/inf "
                                    f"({', '.join(bad[:5])}{more}); nothing saved ({hint})")
