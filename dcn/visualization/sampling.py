"""Geometry of deformable sampling locations, in pure NumPy.

A deformable layer is described by its offset map for one image,
(2 * dg * kh * kw, Ho, Wo) with (dy, dx) per tap, and its kernel, stride,
dilation and padding. Positions are in the layer's input/output feature
coordinates (row, col); the map to image pixels is ``feature_to_image``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DeformLayer:
    offset: np.ndarray          # (2 * dg * kh * kw, Ho, Wo)
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    dilate: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (1, 1)
    name: str = ""
    input_shape: tuple[int, int] | None = None   # (H, W) of the layer's input; None: stride-1 "same" layer

    @property
    def in_shape(self) -> tuple[int, int]:
        """(H, W) of the input map: ``input_shape``, else the output size for a stride-1 layer."""
        if self.input_shape is not None:
            return tuple(self.input_shape)
        if self.stride != (1, 1):
            raise ValueError(f"layer {self.name!r} has stride {self.stride}: its input_shape must be given")
        return tuple(self.offset.shape[1:])

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def num_groups(self) -> int:
        return self.offset.shape[0] // (2 * self.taps)

    def group_offsets(self, group: int) -> np.ndarray:
        """(taps, 2, Ho, Wo) offsets of one deformable group."""
        if not 0 <= group < self.num_groups:
            raise ValueError(f"layer {self.name!r} has {self.num_groups} deformable groups, got group {group}")
        kk = self.taps
        return self.offset[group * 2 * kk:(group + 1) * 2 * kk].reshape(kk, 2, *self.offset.shape[1:])


def _bilinear(plane: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Samples `plane` (..., H, W) at float positions, clamped to the map (offsets
    are defined only on the output grid; beyond it the nearest border value holds)."""
    H, W = plane.shape[-2:]
    y = np.clip(y, 0, H - 1)
    x = np.clip(x, 0, W - 1)
    y0 = np.floor(y).astype(int)
    x0 = np.floor(x).astype(int)
    y1 = np.minimum(y0 + 1, H - 1)
    x1 = np.minimum(x0 + 1, W - 1)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * plane[..., y0, x0] + (1 - ly) * lx * plane[..., y0, x1]
            + ly * (1 - lx) * plane[..., y1, x0] + ly * lx * plane[..., y1, x1])


def sampling_points(layer: DeformLayer, y: np.ndarray, x: np.ndarray, group: int = 0) -> np.ndarray:
    """Input positions sampled by output units at (y, x) (any float positions).

    Returns (len(y), taps, 2) as (row, col). Offsets at fractional output
    positions are interpolated bilinearly from the offset map.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    offs = layer.group_offsets(group)                      # (kk, 2, Ho, Wo)
    dy = _bilinear(offs[:, 0], y, x).T                     # (n, kk)
    dx = _bilinear(offs[:, 1], y, x).T
    kh, kw = layer.kernel
    ii, jj = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    base_y = y[:, None] * layer.stride[0] - layer.pad[0] + ii.reshape(1, -1) * layer.dilate[0]
    base_x = x[:, None] * layer.stride[1] - layer.pad[1] + jj.reshape(1, -1) * layer.dilate[1]
    return np.stack([base_y + dy, base_x + dx], axis=-1)


def reads_input(layer: DeformLayer, points: np.ndarray) -> np.ndarray:
    """Which sampling points (n, 2) read the layer's input at all: the operator
    (DCNv1 rule) samples only inside (-1, H) x (-1, W); a point outside reads
    zero padding and has no receptive field below it."""
    H, W = layer.in_shape
    y, x = points[:, 0], points[:, 1]
    return (y > -1) & (y < H) & (x > -1) & (x < W)


def stacked_sampling_points(layers: list[DeformLayer], unit: tuple[float, float], group: int = 0,
                            drop_padding: bool = False) -> list[np.ndarray]:
    """Sampling locations of stacked deformable layers for one activation unit
    of the last layer (paper figure 6): level k holds taps**k points, in the
    input coordinates of layer ``layers[-k]``. Layers are listed bottom-up and
    assumed consecutive: only 1x1 stride-1 convs in between, as in the
    bottleneck ResNets' dilated conv5 (not ResNet-18/34, whose blocks hold
    two 3x3 convs).

    Every tap keeps its own offset (tap t of a unit always moves by offset
    channel pair t, also at the borders). ``drop_padding``: points that read
    only zero padding (``reads_input`` false) are dropped together with
    everything below them, so level k holds *up to* taps**k points."""
    ys = np.array([unit[0]], dtype=np.float64)
    xs = np.array([unit[1]], dtype=np.float64)
    levels = []
    for layer in reversed(layers):
        pts = sampling_points(layer, ys, xs, group).reshape(-1, 2)
        if drop_padding:
            pts = pts[reads_input(layer, pts)]
        levels.append(pts)
        ys, xs = pts[:, 0], pts[:, 1]
    return levels


def effective_dilation(layer: DeformLayer, group: int | None = None) -> np.ndarray:
    """Mean distance between adjacent sampling locations of the filter at every
    output position (paper Table 2), (Ho, Wo); a regular filter gives its
    dilation. ``group=None`` averages over the deformable groups."""
    groups = range(layer.num_groups) if group is None else [group]
    Ho, Wo = layer.offset.shape[1:]
    yy, xx = np.meshgrid(np.arange(Ho, dtype=np.float64), np.arange(Wo, dtype=np.float64), indexing="ij")
    kh, kw = layer.kernel
    result = np.zeros((Ho, Wo))
    for g in groups:
        pts = sampling_points(layer, yy, xx, g).reshape(Ho * Wo, kh, kw, 2)
        dists = []
        if kw > 1:
            dists.append(np.linalg.norm(pts[:, :, 1:] - pts[:, :, :-1], axis=-1).reshape(Ho * Wo, -1))
        if kh > 1:
            dists.append(np.linalg.norm(pts[:, 1:] - pts[:, :-1], axis=-1).reshape(Ho * Wo, -1))
        if not dists:
            raise ValueError("effective dilation needs a kernel larger than 1x1")
        result += np.concatenate(dists, axis=1).mean(axis=1).reshape(Ho, Wo)
    return result / len(groups)


def padding_fraction(layer: DeformLayer) -> np.ndarray:
    """Fraction of the filter taps that read only zero padding (outside the input map), at every output
    position (Ho, Wo), averaged over the deformable groups: offsets that drift out of the map switch taps off
    (DCNv1 gives them no gradient to come back)."""
    Ho, Wo = layer.offset.shape[1:]
    yy, xx = np.meshgrid(np.arange(Ho, dtype=np.float64), np.arange(Wo, dtype=np.float64), indexing="ij")
    out = np.zeros(Ho * Wo)
    for g in range(layer.num_groups):
        pts = sampling_points(layer, yy, xx, g)                      # (n, taps, 2)
        out += 1.0 - reads_input(layer, pts.reshape(-1, 2)).reshape(pts.shape[:2]).mean(axis=1)
    return (out / layer.num_groups).reshape(Ho, Wo)


def feature_to_image(points: np.ndarray, stride: float) -> np.ndarray:
    """Feature (row, col) -> image pixel (row, col): the centre of the stride cell."""
    return (np.asarray(points) + 0.5) * stride - 0.5


def image_to_feature(points: np.ndarray, stride: float) -> np.ndarray:
    return (np.asarray(points) + 0.5) / stride - 0.5
