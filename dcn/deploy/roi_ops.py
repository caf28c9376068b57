"""MXNet's plain ``_contrib_PSROIPooling`` (the non-deformable R-FCN baseline) in standard ONNX ops.

Contrib's rule: box ``round(x1) * scale`` .. ``(round(x2) + 1) * scale`` (size >= 0.1), bin ``p``
covers the integer cells ``floor(p * bin + start)`` .. ``ceil((p + 1) * bin + start)`` clipped to the
map, its value is the mean of those cells of the bin's position-sensitive channel (0 when empty).
Composed with a summed-area table (``CumSum`` in float64, so that the four-corner differences do not
cancel): every bin is four gathered rows of channels, weighted +-1 / area in one batched MatMul.
Limitation as for the deformable pooling: one image (data batch 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .deform_ops import _round_half_away
from .graph import GraphBuilder

DOUBLE, INT64, FLOAT = 11, 7, 1


@dataclass(frozen=True)
class PlainPSROIAttrs:
    spatial_scale: float
    output_dim: int
    group_size: int
    pooled_size: int


def plain_psroi_pool(g: GraphBuilder, data: str, rois: str, p: PlainPSROIAttrs, hint: str = "psroi") -> str:
    """``_contrib_PSROIPooling`` (data batch 1) -> (R, output_dim, P, P)."""
    P, G, od = p.pooled_size, p.group_size, p.output_dim
    f = g.scalar
    col = lambda k: g.op("Slice", [rois, g.ints([k]), g.ints([k + 1]), g.ints([1])])  # noqa: E731
    shape = g.op("Shape", [data], f"{hint}_dshape")
    dims = {"h": g.op("Gather", [shape, g.const(np.int64(2))]), "w": g.op("Gather", [shape, g.const(np.int64(3))])}
    bins = g.const(np.arange(P, dtype=np.float32).reshape(1, P))
    ends = {}
    for axis, (k1, k2) in (("w", (1, 3)), ("h", (2, 4))):
        start = g.op("Mul", [_round_half_away(g, col(k1)), f(p.spatial_scale)], f"{hint}_start{axis}")
        end = g.op("Mul", [g.op("Add", [_round_half_away(g, col(k2)), f(1.0)]), f(p.spatial_scale)])
        size = g.op("Max", [g.op("Sub", [end, start]), f(0.1)])
        bin_ = g.op("Div", [size, f(float(P))], f"{hint}_bin{axis}")  # (R, 1)
        lo = g.op("Floor", [g.op("Add", [g.op("Mul", [bins, bin_]), start])])
        hi = g.op("Ceil", [g.op("Add", [g.op("Mul", [g.op("Add", [bins, f(1.0)]), bin_]), start])])
        n = g.op("Cast", [dims[axis]], to=FLOAT)
        clip = lambda v: g.op("Min", [g.op("Max", [v, f(0.0)]), n])  # noqa: E731
        ends[axis] = (clip(lo), clip(hi))  # (R, P) each, integer-valued
    # area and emptiness per bin (R, P, P): rows from h, columns from w
    lh, hh = (g.op("Unsqueeze", [v, g.ints([2])]) for v in ends["h"])
    lw, hw = (g.op("Unsqueeze", [v, g.ints([1])]) for v in ends["w"])
    dh, dw = g.op("Sub", [hh, lh]), g.op("Sub", [hw, lw])
    area = g.op("Mul", [dh, dw], f"{hint}_area")
    full = g.op("Cast", [g.op("And", [g.op("Greater", [dh, f(0.0)]), g.op("Greater", [dw, f(0.0)])])], to=FLOAT)
    inv = g.op("Div", [full, g.op("Max", [area, f(1.0)])], f"{hint}_inv")  # 0 for an empty bin
    sign = g.const(np.array([1.0, -1.0, -1.0, 1.0]).reshape(1, 1, 1, 4), f"{hint}_sign", dtype=np.float64)
    wts = g.op("Mul", [g.op("Unsqueeze", [g.op("Cast", [inv], to=DOUBLE), g.ints([3])]), sign])
    wts = g.op("Reshape", [wts, g.ints([-1, 1, 4])], f"{hint}_w3")
    # summed-area table S[y, x] = sum of data[< y, < x], rows of channels per group cell
    table = g.op("Cast", [data], to=DOUBLE)
    table = g.op("CumSum", [g.op("CumSum", [table, g.const(np.int64(2))]), g.const(np.int64(3))])
    table = g.op("Pad", [table, g.ints([0, 0, 1, 1, 0, 0, 0, 0])], f"{hint}_sat")  # (1, C, H+1, W+1)
    rows = g.op("Reshape", [table, g.ints([od, G * G, -1])])
    rows = g.op("Reshape", [g.op("Transpose", [rows], perm=[1, 2, 0]), g.ints([-1, od])], f"{hint}_rows")
    w1 = g.op("Add", [dims["w"], g.const(np.int64(1))])
    plane = g.op("Mul", [g.op("Add", [dims["h"], g.const(np.int64(1))]), w1])
    i64 = lambda v: g.op("Cast", [v], to=INT64)  # noqa: E731
    gcell = np.clip(np.floor(np.arange(P, dtype=np.float32) * np.float32(G) / np.float32(P)), 0, G - 1).astype(int)
    cell = (gcell[:, None] * G + gcell[None, :]).reshape(1, P, P).astype(np.int64)
    base = g.op("Mul", [g.const(cell), plane])
    corners = []
    for y in (lh, hh):
        row = g.op("Add", [base, g.op("Mul", [i64(y), w1])])
        for x in (lw, hw):
            corners.append(g.op("Unsqueeze", [g.op("Add", [row, i64(x)]), g.ints([3])]))
    idx = g.op("Concat", corners, f"{hint}_idx", axis=3)  # (R, P, P, 4)
    taps = g.op("Gather", [rows, g.op("Reshape", [idx, g.ints([-1])])], f"{hint}_taps", axis=0)
    y = g.op("MatMul", [wts, g.op("Reshape", [taps, g.ints([-1, 4, od])])])  # (R P P, 1, od)
    y = g.op("Cast", [g.op("Reshape", [y, g.ints([-1, P, P, od])])], to=FLOAT)
    return g.op("Transpose", [y], hint, perm=[0, 3, 1, 2])
