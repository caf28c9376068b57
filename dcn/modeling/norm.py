"""The normalisation layers of the backbones, chosen by ``network.norm``.

* ``frozen_bn``: BatchNorm with fixed statistics (``use_global_stats``), as the
  Caffe-converted ImageNet models and the original code: right only when the
  statistics are real (a released or our synthetic-pretrained backbone).
* ``bn``: BatchNorm with batch statistics in training and running averages at
  test (what classification pretraining uses, with batches of many crops).
* ``gn``: GroupNorm (Wu & He 2018) with per-channel scale and shift: no batch
  dependence, so training with one image per step and testing agree; for
  detectors and DeepLab trained from scratch.

Every kind is a block with the prefix ``bn<layer>_`` and parameters ``gamma``/
``beta`` (BatchNorm also ``running_mean``/``running_var``), so the original
parameter names and the scratch initialisation (``zero_last_bn_gammas``) hold.
"""
from __future__ import annotations

import math

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

NORM_KINDS = ("frozen_bn", "bn", "gn")
GN_MAX_GROUPS = 32


def group_count(channels: int, max_groups: int = GN_MAX_GROUPS) -> int:
    """Groups of a GroupNorm over ``channels``: the largest divisor of ``channels`` up to ``max_groups``."""
    return math.gcd(channels, max_groups)


class GroupNorm2D(HybridBlock):
    """GroupNorm over (N, C, H, W) with per-channel ``gamma``/``beta``.

    MXNet 1.9's ``GroupNorm`` has one scale per group, not per channel; the
    normalisation is its op (unit scale), the affine part is ours.
    """

    def __init__(self, channels: int, num_groups: int = 0, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self._groups = num_groups or group_count(channels)
        if channels % self._groups:
            raise ValueError(f"GroupNorm2D: {channels} channels are not divisible into {self._groups} groups")
        self._eps = epsilon
        with self.name_scope():
            self.gamma = self.params.get("gamma", shape=(channels,), init=mx.init.One())
            self.beta = self.params.get("beta", shape=(channels,), init=mx.init.Zero())

    def hybrid_forward(self, F, x, gamma, beta):
        unit = F.ones_like(F.slice_axis(gamma, axis=0, begin=0, end=self._groups))  # no extra parameters
        y = F.GroupNorm(x, unit, F.zeros_like(unit), num_groups=self._groups, eps=self._eps)
        return F.broadcast_add(F.broadcast_mul(y, gamma.reshape((1, -1, 1, 1))), beta.reshape((1, -1, 1, 1)))


def make_norm(kind: str, channels: int, prefix: str) -> HybridBlock:
    """The normalisation layer of ``kind`` (:data:`NORM_KINDS`) for ``channels`` channels."""
    if kind == "frozen_bn":
        return nn.BatchNorm(use_global_stats=True, epsilon=1e-5, in_channels=channels, prefix=prefix)
    if kind == "bn":
        return nn.BatchNorm(use_global_stats=False, epsilon=1e-5, momentum=0.9, in_channels=channels, prefix=prefix)
    if kind == "gn":
        return GroupNorm2D(channels, prefix=prefix)
    raise ValueError(f"network.norm must be one of {NORM_KINDS}, got {kind!r}")
