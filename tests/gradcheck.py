"""Central finite differences in float64 for ops with several inputs."""
from __future__ import annotations

import mxnet as mx
import numpy as np


def check_gradients(op, arrays: dict, attrs: dict, seed: int = 0, samples: int = 25,
                    eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Compares autograd gradients of sum(op(...) * R) with central differences
    on `samples` random entries of every input."""
    names = list(arrays)
    base = {n: arrays[n].astype("float64").asnumpy() for n in names}
    rng = np.random.RandomState(seed)

    def value(vals: dict) -> float:
        y = op(*[mx.nd.array(vals[n], dtype="float64") for n in names], **attrs)
        return float((y.asnumpy() * R).sum())

    inputs = [mx.nd.array(base[n], dtype="float64") for n in names]
    for a in inputs:
        a.attach_grad()
    with mx.autograd.record():
        y = op(*inputs, **attrs)
    R = rng.randn(*y.shape)
    y.backward(mx.nd.array(R, dtype="float64"))
    grads = {n: a.grad.asnumpy() for n, a in zip(names, inputs)}

    for n in names:
        flat = base[n].reshape(-1)
        picks = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
        for i in picks:
            plus = {k: v.copy() for k, v in base.items()}
            minus = {k: v.copy() for k, v in base.items()}
            plus[n].reshape(-1)[i] += eps
            minus[n].reshape(-1)[i] -= eps
            numeric = (value(plus) - value(minus)) / (2 * eps)
            analytic = grads[n].reshape(-1)[i]
            assert abs(numeric - analytic) <= atol + rtol * abs(numeric), (
                f"d/d{n}[{np.unravel_index(i, base[n].shape)}]: analytic {analytic!r} "
                f"vs finite difference {numeric!r}")
