"""Feature pyramid (Lin et al. 2017) as the original deformable FPN (``resnet_v1_101_fpn_dcn_rcnn``).

* :class:`FPNNeck`: ``fpn_p{2..5}_1x1`` laterals on C2..C5, nearest x2
  upsampling + sum top-down, ``fpn_p{2..5}`` 3x3 output convs (256 channels);
  ``fpn_p6`` = 3x3 stride-2 conv on C5 (for the RPN only).
* :func:`assign_levels`: RoI of ``w x h`` (inclusive pixels, as the original)
  -> level ``k = floor(k0 + log2(sqrt(w h) / 224))``, clamped to [k_min, k_max]
  (k0 = 4: a 224-pixel RoI pools from P4; the original's
  ``floor(2 + log2(...))`` index into P2..P5).
* :class:`PyramidRoIPool`: (deformable) RoI pooling of each RoI from its level
  (``dcn.modeling.roi_heads.DeformableRoIPool``, level-specific offset fcs
  ``offset_p{k}``, spatial scale 1/stride), back in the RoIs' order.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet.gluon import Block, HybridBlock, nn

from dcn.modeling.roi_heads import DeformableRoIPool

CANONICAL_SIZE = 224.0
CANONICAL_LEVEL = 4


def assign_levels(rois: np.ndarray, k_min: int = 2, k_max: int = 5, k0: int = CANONICAL_LEVEL,
                  canonical: float = CANONICAL_SIZE) -> np.ndarray:
    """Pyramid level (int, in [k_min, k_max]) of each RoI (R, 4) ``[x1, y1, x2, y2]``."""
    if k_min > k_max:
        raise ValueError(f"k_min ({k_min}) must be <= k_max ({k_max})")
    rois = np.asarray(rois, np.float64).reshape(-1, 4)
    w = np.maximum(rois[:, 2] - rois[:, 0] + 1, 1)
    h = np.maximum(rois[:, 3] - rois[:, 1] + 1, 1)
    k = np.floor(k0 + np.log2(np.sqrt(w * h) / canonical))
    return np.clip(k, k_min, k_max).astype(np.int64)


class FPNNeck(HybridBlock):
    """``(C2, C3, C4, C5) -> (P2, P3, P4, P5, P6)``, ``channels`` each."""

    def __init__(self, channels: int = 256, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        with self.name_scope():
            self.lateral = nn.HybridSequential(prefix="")
            self.output = nn.HybridSequential(prefix="")
            with self.lateral.name_scope():
                for k in (2, 3, 4, 5):
                    self.lateral.add(nn.Conv2D(channels, 1, prefix=f"fpn_p{k}_1x1_"))
            with self.output.name_scope():
                for k in (2, 3, 4, 5):
                    self.output.add(nn.Conv2D(channels, 3, padding=1, prefix=f"fpn_p{k}_"))
            self.p6 = nn.Conv2D(channels, 3, strides=2, padding=1, prefix="fpn_p6_")

    def hybrid_forward(self, F, c2, c3, c4, c5):
        laterals = [self.lateral[i](c) for i, c in enumerate((c2, c3, c4, c5))]
        merged = [laterals[3]]
        for lat in reversed(laterals[:3]):  # P5 -> P4 -> P3 -> P2
            up = F.UpSampling(merged[0], scale=2, sample_type="nearest")
            merged.insert(0, lat + F.slice_like(up, lat, axes=(2, 3)))  # odd sizes: crop
        outs = [self.output[i](m) for i, m in enumerate(merged)]
        return tuple(outs) + (self.p6(c5),)


def pool_by_level(pools: Sequence, levels: Sequence[mx.nd.NDArray], rois: mx.nd.NDArray, first_level: int = 2
                  ) -> Tuple[mx.nd.NDArray, List[int]]:
    """Each RoI (R, 5) pooled by ``pools[i]`` from ``levels[i]``, its :func:`assign_levels` level, back in the
    RoIs' order; also the indices of the pools no RoI went to. ``pools`` are the network's blocks or their
    exported graphs (``dcn.export_detectors``)."""
    ctx = rois.context
    level = assign_levels(rois[:, 1:].asnumpy(), first_level, first_level + len(pools) - 1)
    parts, order, unused = [], [], []
    for i, pool in enumerate(pools):
        idx = np.flatnonzero(level == first_level + i)
        if len(idx) == 0:
            unused.append(i)
            continue
        parts.append(pool(levels[i], rois.take(mx.nd.array(idx, ctx=ctx))))
        order.append(idx)
    pooled = mx.nd.concat(*parts, dim=0) if len(parts) > 1 else parts[0]
    inverse = np.empty(len(level), np.int64)
    inverse[np.concatenate(order)] = np.arange(len(level))
    return pooled.take(mx.nd.array(inverse, ctx=ctx)), unused


class PyramidRoIPool(Block):
    """``(levels (P2..P5), rois (R, 5)) -> (R, C, k, k)``, each RoI pooled from its :func:`assign_levels` level."""

    def __init__(self, channels: int, strides: Sequence[int] = (4, 8, 16, 32), pooled_size: int = 7,
                 deformable: bool = True, plain_op: str = "bilinear", first_level: int = 2, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        self.strides, self.first_level = tuple(strides), first_level
        self.channels, self.pooled_size = channels, pooled_size
        with self.name_scope():
            self.pools = []
            for i, stride in enumerate(self.strides):
                pool = DeformableRoIPool(channels, pooled_size, 1.0 / stride, deformable=deformable,
                                         plain_op=plain_op, offset_prefix=f"offset_p{first_level + i}_")
                self.register_child(pool, f"pool_p{first_level + i}")
                self.pools.append(pool)

    def forward(self, levels: Sequence[mx.nd.NDArray], rois: mx.nd.NDArray) -> mx.nd.NDArray:
        if len(levels) < len(self.pools):
            raise ValueError(f"{len(levels)} feature levels for {len(self.pools)} pooling levels")
        pooled, unused = pool_by_level(self.pools, levels, rois, self.first_level)
        for i in unused:  # a level without RoIs still gets a (zero) gradient, so no parameter goes stale
            pooled = pooled + 0 * self.pools[i](levels[i], rois[:1]).sum()
        return pooled
