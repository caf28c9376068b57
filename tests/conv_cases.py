"""Random deformable-convolution problems shared by the conv tests."""
from __future__ import annotations

from dataclasses import dataclass, field

import mxnet as mx
import numpy as np


@dataclass
class ConvCase:
    N: int = 2
    C: int = 4
    H: int = 9
    W: int = 11
    F: int = 6
    kernel: tuple = (3, 3)
    stride: tuple = (1, 1)
    dilate: tuple = (1, 1)
    pad: tuple = (1, 1)
    groups: int = 1
    dgroups: int = 1
    no_bias: bool = False
    offset_scale: float = 2.0   # offsets uniform in [-scale, scale]
    offset_kind: str = "fractional"  # fractional | integer | far | interior
    workspace: int = 1024
    extra: dict = field(default_factory=dict)

    @property
    def out_hw(self) -> tuple[int, int]:
        kh, kw = self.kernel
        ho = (self.H + 2 * self.pad[0] - (self.dilate[0] * (kh - 1) + 1)) // self.stride[0] + 1
        wo = (self.W + 2 * self.pad[1] - (self.dilate[1] * (kw - 1) + 1)) // self.stride[1] + 1
        return ho, wo

    def attrs(self) -> dict:
        return dict(kernel=self.kernel, stride=self.stride, dilate=self.dilate, pad=self.pad,
                    num_filter=self.F, num_group=self.groups, num_deformable_group=self.dgroups,
                    no_bias=self.no_bias, workspace=self.workspace, **self.extra)

    def offsets(self, rng: np.random.RandomState, taps: int) -> np.ndarray:
        ho, wo = self.out_hw
        shape = (self.N, 2 * self.dgroups * taps, ho, wo)
        if self.offset_kind == "integer":
            return rng.randint(-2, 3, size=shape).astype(np.float64)
        if self.offset_kind == "far":  # many samples far outside the image
            return rng.uniform(-3 * max(self.H, self.W), 3 * max(self.H, self.W), size=shape)
        if self.offset_kind == "interior":
            # Fractional parts in [0.2, 0.8]: sample points stay away from the
            # integer grid, where bilinear sampling has kinks (and DCNv1 jumps).
            whole = rng.randint(-2, 3, size=shape)
            frac = rng.uniform(0.2, 0.8, size=shape)
            return whole + frac
        return rng.uniform(-self.offset_scale, self.offset_scale, size=shape)

    def arrays(self, seed: int, dtype: str, modulated: bool = False) -> dict:
        rng = np.random.RandomState(seed)
        kh, kw = self.kernel
        ho, wo = self.out_hw
        out = dict(
            data=rng.randn(self.N, self.C, self.H, self.W),
            offset=self.offsets(rng, kh * kw),
        )
        if modulated:
            out["mask"] = rng.uniform(0.0, 1.0, size=(self.N, self.dgroups * kh * kw, ho, wo))
        out["weight"] = rng.randn(self.F, self.C // self.groups, kh, kw) * 0.5
        if not self.no_bias:
            out["bias"] = rng.randn(self.F)
        return {k: mx.nd.array(v, dtype=dtype) for k, v in out.items()}


def forward_backward(op, arrays: dict, attrs: dict, head_grad: mx.nd.NDArray | None = None,
                     seed: int = 1):
    """Runs op under autograd; returns (output, {name: gradient}) as numpy."""
    names = list(arrays)
    inputs = [arrays[n].copy() for n in names]
    for a in inputs:
        a.attach_grad()
    with mx.autograd.record():
        y = op(*inputs, **attrs)
    if head_grad is None:
        rng = np.random.RandomState(seed)
        head_grad = mx.nd.array(rng.randn(*y.shape), dtype=y.dtype)
    y.backward(head_grad)
    return y.asnumpy(), {n: a.grad.asnumpy() for n, a in zip(names, inputs)}, head_grad


def assert_close(actual, expected, rtol, atol, what=""):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
