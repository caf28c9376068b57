"""Our three operators in standard ONNX ops (opset 19).

Deformable convolution -> ``DeformConv``. ONNX (and ONNX Runtime, OpenVINO) sample on a
zero-padded map (the DCNv2 rule: a tap counts iff -1 < h < H, outside corners read 0). Our
default ``border_rule="dcnv1"`` (MXNet contrib, the released models) counts a tap iff
0 <= h < H and 0 <= w < W and, in [H-1, H), reads the last row. ``emulate_v1=True`` turns the
v1 rule into the v2 one exactly: taps outside [0, H) x [0, W) get mask 0, taps in
[H-1, H) (or [W-1, W)) are moved onto H-1 (W-1), where both rules read the last row alone.
The coordinates are formed as in our kernel (integer base + offset), so the decisions are the
same bit for bit.

``DeformablePSROIPooling`` has no ONNX op. It is composed as: RoI boxes (contrib's
round-half-away, ``* scale - 0.5``, size >= 0.1), bin starts with the offsets, ``spp x spp``
samples per bin, contrib's validity (-0.5 <= x <= W - 0.5) and clamp to [0, W-1], then one
``GridSample`` (bilinear, align_corners) per position-sensitive group cell on that cell's
channels, masked sum over the samples and division by the valid count (0 when none).
``GridSample`` variant: one sampling per (class, group cell) batch. Limitation: one image (data batch 1); the
RoIs' batch index is not read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .graph import GraphBuilder


@dataclass(frozen=True)
class ConvAttrs:
    kernel: Tuple[int, int]
    stride: Tuple[int, int] = (1, 1)
    pad: Tuple[int, int] = (0, 0)
    dilate: Tuple[int, int] = (1, 1)
    groups: int = 1
    deformable_groups: int = 1


def deform_conv(g: GraphBuilder, x: str, offset: str, weight: str, bias: Optional[str], mask: Optional[str],
                a: ConvAttrs, emulate_v1: bool, hint: str = "deform_conv") -> str:
    """``DeformConv`` of ``x``; with ``emulate_v1`` the offsets/mask are rewritten for the DCNv1 rule."""
    if emulate_v1:
        offset, v1_mask = _v1_offsets_and_mask(g, x, offset, a, hint)
        mask = v1_mask if mask is None else g.op("Mul", [mask, v1_mask], f"{hint}_mask")
    inputs = [x, weight, offset, bias or ""] + ([mask] if mask else [])
    while inputs[-1] == "":
        inputs.pop()
    return g.op("DeformConv", inputs, hint, kernel_shape=list(a.kernel), strides=list(a.stride),
                pads=[a.pad[0], a.pad[1], a.pad[0], a.pad[1]], dilations=list(a.dilate), group=a.groups,
                offset_group=a.deformable_groups)


def _axis_base(g: GraphBuilder, extent: str, stride: int, pad: int, dil: int, taps: np.ndarray, axis: str,
               hint: str) -> str:
    """Integer sampling base ``o * stride - pad + tap * dil`` as float: (T, Ho, 1) for y, (T, 1, Wo) for x."""
    n = g.op("Squeeze", [extent], f"{hint}_n{axis}")
    o = g.op("Cast", [g.op("Range", [g.const(np.int64(0)), n, g.const(np.int64(1))], f"{hint}_r{axis}")],
             f"{hint}_o{axis}", to=1)
    o = g.op("Sub", [g.op("Mul", [o, g.scalar(stride)]), g.scalar(pad)], f"{hint}_b{axis}")
    o = g.op("Reshape", [o, g.ints([1, -1, 1] if axis == "y" else [1, 1, -1])])
    t = g.const((taps * dil).astype(np.float32).reshape(-1, 1, 1), f"{hint}_t{axis}")
    return g.op("Add", [t, o], f"{hint}_base{axis}")


def _v1_offsets_and_mask(g: GraphBuilder, x: str, offset: str, a: ConvAttrs, hint: str) -> Tuple[str, str]:
    kh, kw = a.kernel
    taps = kh * kw * a.deformable_groups
    t = np.arange(kh * kw)
    ty, tx = np.tile(t // kw, a.deformable_groups), np.tile(t % kw, a.deformable_groups)
    xs = g.op("Shape", [x], f"{hint}_xshape")
    os_ = g.op("Shape", [offset], f"{hint}_oshape")
    height = g.op("Cast", [g.op("Gather", [xs, g.const(np.int64(2))])], f"{hint}_H", to=1)
    width = g.op("Cast", [g.op("Gather", [xs, g.const(np.int64(3))])], f"{hint}_W", to=1)
    base_y = _axis_base(g, g.op("Slice", [os_, g.ints([2]), g.ints([3])]), a.stride[0], a.pad[0], a.dilate[0],
                        ty, "y", hint)
    base_x = _axis_base(g, g.op("Slice", [os_, g.ints([3]), g.ints([4])]), a.stride[1], a.pad[1], a.dilate[1],
                        tx, "x", hint)
    end = g.ints([2 * taps])
    off_y = g.op("Slice", [offset, g.ints([0]), end, g.ints([1]), g.ints([2])], f"{hint}_offy")
    off_x = g.op("Slice", [offset, g.ints([1]), end, g.ints([1]), g.ints([2])], f"{hint}_offx")
    h = g.op("Add", [base_y, off_y], f"{hint}_h")  # our kernel: float(base) + offset
    w = g.op("Add", [base_x, off_x], f"{hint}_w")
    zero = g.scalar(0.0)
    valid = g.op("And", [g.op("And", [g.op("GreaterOrEqual", [h, zero]), g.op("Less", [h, height])]),
                         g.op("And", [g.op("GreaterOrEqual", [w, zero]), g.op("Less", [w, width])])],
                 f"{hint}_valid")
    mask = g.op("Cast", [valid], f"{hint}_v1mask", to=1)
    one = g.scalar(1.0)
    last_y, last_x = g.op("Sub", [height, one]), g.op("Sub", [width, one])
    # in [H-1, H): onto the last row exactly (there v1 reads that row alone, as v2 does at H-1)
    new_y = g.op("Where", [g.op("Greater", [h, last_y]), g.op("Sub", [last_y, base_y]), off_y], f"{hint}_ny")
    new_x = g.op("Where", [g.op("Greater", [w, last_x]), g.op("Sub", [last_x, base_x]), off_x], f"{hint}_nx")
    pair = g.op("Concat", [g.op("Unsqueeze", [new_y, g.ints([2])]), g.op("Unsqueeze", [new_x, g.ints([2])])],
                f"{hint}_pairs", axis=2)
    return g.op("Reshape", [pair, os_], f"{hint}_v1offset"), mask


@dataclass(frozen=True)
class PSROIAttrs:
    spatial_scale: float
    output_dim: int
    group_size: int
    pooled_size: int
    part_size: int = 0  # 0: pooled_size
    sample_per_part: int = 1
    trans_std: float = 0.0
    no_trans: bool = False


def _round_half_away(g: GraphBuilder, v: str) -> str:
    """C ``round`` (ONNX ``Round`` rounds half to even): sign(v) * (floor|v| + (frac|v| >= 0.5))."""
    a = g.op("Abs", [v])
    f = g.op("Floor", [a])
    up = g.op("Cast", [g.op("GreaterOrEqual", [g.op("Sub", [a, f]), g.scalar(0.5)])], to=1)
    return g.op("Mul", [g.op("Sign", [v]), g.op("Add", [f, up])], "roi_round")


def _cell_maps(p: PSROIAttrs) -> Tuple[np.ndarray, np.ndarray]:
    """Group cell and part (offset) cell of each bin row/column, by contrib's float formulas."""
    P, G, Q = p.pooled_size, p.group_size, p.part_size or p.pooled_size
    i = np.arange(P, dtype=np.float32)
    gcell = np.clip(np.floor(i * np.float32(G) / np.float32(P)), 0, G - 1).astype(np.int64)
    qcell = np.clip(np.floor(i / np.float32(P) * np.float32(Q)), 0, Q - 1).astype(np.int64)
    return gcell, qcell


AUTO_GATHER_CHANNELS = 16


def psroi_pool(g: GraphBuilder, data: str, rois: str, trans: Optional[str], p: PSROIAttrs, num_classes: int,
               hint: str = "psroi", impl: str = "auto") -> str:
    """``DeformablePSROIPooling`` (data batch 1) -> (R, output_dim, P, P).

    ``num_classes``: trans channels / 2 (1 without trans); output_dim must be a multiple of it.
    ``impl``: "gather" (default: the 4 bilinear corners of every sample gathered as channel rows and
    weighted in one batched MatMul; ~4x faster in ONNX Runtime, ~4x more memory) or "gridsample"
    (one GridSample per group cell); "auto": gather when a sample reads at least AUTO_GATHER_CHANNELS
    channels, else GridSample (the index arithmetic of "gather" does not pay for a few channels).
    """
    if impl not in ("auto", "gather", "gridsample"):
        raise ValueError(f"{hint}: impl must be 'auto', 'gather' or 'gridsample', got {impl!r}")
    P = p.pooled_size
    ncls = 1 if (p.no_trans or trans is None) else num_classes
    if p.output_dim % ncls:
        raise ValueError(f"{hint}: output_dim {p.output_dim} is not a multiple of the {ncls} offset classes")
    if impl == "auto":
        impl = "gather" if p.output_dim // ncls >= AUTO_GATHER_CHANNELS else "gridsample"
    s = _psroi_samples(g, data, rois, trans, p, ncls, hint)
    y = (_taps_gather if impl == "gather" else _taps_gridsample)(g, data, s, p, ncls, hint)
    return g.op("Reshape", [y, g.ints([-1, p.output_dim, P, P])], hint)


@dataclass
class _Samples:
    """Sample rows/columns of every bin: clamped coordinates, validity (0/1) and the valid count."""
    clamped: dict   # axis -> (R, ncls|1, P|1, P|1, spp) feature coordinates in [0, n-1]
    valid: dict     # axis -> same shape, float 0/1
    count: str      # (R, ncls, P, P)
    extent: dict    # axis -> float scalar H or W
    hw: str         # int64 [H, W]


def _psroi_samples(g: GraphBuilder, data: str, rois: str, trans: Optional[str], p: PSROIAttrs, ncls: int,
                   hint: str) -> _Samples:
    P, spp = p.pooled_size, p.sample_per_part
    Q = p.part_size or P
    _, qcell = _cell_maps(p)
    f = lambda v: g.scalar(v)  # noqa: E731
    col = lambda k: g.op("Slice", [rois, g.ints([k]), g.ints([k + 1]), g.ints([1])], f"{hint}_c{k}")  # noqa: E731
    shape = g.op("Shape", [data], f"{hint}_dshape")
    hw = g.op("Slice", [shape, g.ints([2]), g.ints([4])], f"{hint}_hw")
    height = g.op("Cast", [g.op("Gather", [shape, g.const(np.int64(2))])], f"{hint}_H", to=1)
    width = g.op("Cast", [g.op("Gather", [shape, g.const(np.int64(3))])], f"{hint}_W", to=1)
    scale, half = f(p.spatial_scale), f(0.5)
    box = {}
    for axis, (k1, k2) in (("w", (1, 3)), ("h", (2, 4))):
        start = g.op("Sub", [g.op("Mul", [_round_half_away(g, col(k1)), scale]), half], f"{hint}_start{axis}")
        end = g.op("Sub", [g.op("Mul", [g.op("Add", [_round_half_away(g, col(k2)), f(1.0)]), scale]), half])
        size = g.op("Max", [g.op("Sub", [end, start]), f(0.1)], f"{hint}_size{axis}")
        bin_ = g.op("Div", [size, f(float(P))], f"{hint}_bin{axis}")
        sub = g.op("Div", [bin_, f(float(spp))], f"{hint}_sub{axis}")
        box[axis] = [g.op("Reshape", [v, g.ints([-1, 1, 1, 1])]) for v in (start, size, bin_, sub)]
    # offsets per (roi, class, ph, pw): trans (R, 2 ncls, Q, Q) at each bin's part cell
    if not (p.no_trans or trans is None):
        t = g.op("Reshape", [trans, g.ints([0, ncls, 2, Q * Q])], f"{hint}_t4")
        t = g.op("Gather", [t, g.const((qcell[:, None] * Q + qcell[None, :]).reshape(-1))], f"{hint}_tbins",
                 axis=3)
        t = g.op("Mul", [t, f(p.trans_std)])
        tx = g.op("Reshape", [g.op("Slice", [t, g.ints([0]), g.ints([1]), g.ints([2])]), g.ints([0, ncls, P, P])])
        ty = g.op("Reshape", [g.op("Slice", [t, g.ints([1]), g.ints([2]), g.ints([2])]), g.ints([0, ncls, P, P])])
    else:
        tx = ty = None
    clamped, valid = {}, {}
    for axis, shift, extent in (("w", tx, width), ("h", ty, height)):
        start, size, bin_, sub = box[axis]
        idx = g.const(np.arange(P, dtype=np.float32).reshape((1, 1, 1, P) if axis == "w" else (1, 1, P, 1)))
        st = g.op("Add", [g.op("Mul", [idx, bin_]), start], f"{hint}_{axis}start")  # contrib: p * bin + start
        if shift is not None:
            st = g.op("Add", [st, g.op("Mul", [shift, size])])  # then += trans * roi size
        st = g.op("Unsqueeze", [st, g.ints([4])])  # (R, ncls|1, P|1, P|1, 1)
        offs = g.op("Mul", [g.const(np.arange(spp, dtype=np.float32)), g.op("Unsqueeze", [sub, g.ints([4])])])
        v = g.op("Add", [st, offs], f"{hint}_{axis}samples")  # (R, ., ., ., spp)
        ok = g.op("And", [g.op("GreaterOrEqual", [v, f(-0.5)]), g.op("LessOrEqual", [v, g.op("Sub", [extent, half])])])
        valid[axis] = g.op("Cast", [ok], f"{hint}_{axis}ok", to=1)
        clamped[axis] = g.op("Min", [g.op("Max", [v, f(0.0)]), g.op("Sub", [extent, f(1.0)])], f"{hint}_{axis}c")
    both = g.op("Mul", [g.op("Unsqueeze", [valid["h"], g.ints([5])]), g.op("Unsqueeze", [valid["w"], g.ints([4])])])
    count = g.op("ReduceSum", [both, g.ints([4, 5])], f"{hint}_count", keepdims=0)  # (R, ncls|1, P, P)
    count = g.op("Max", [count, f(1.0)])  # no valid sample: the weights are all 0 -> 0
    return _Samples(clamped, valid, count, {"w": width, "h": height}, hw)


def _taps_gather(g: GraphBuilder, data: str, s: _Samples, p: PSROIAttrs, ncls: int, hint: str) -> str:
    """Rows of channels (class, cell, y, x) -> gathered at 4 corners x spp^2 samples, one MatMul per bin."""
    P, G, spp = p.pooled_size, p.group_size, p.sample_per_part
    cpc = p.output_dim // ncls
    gcell, _ = _cell_maps(p)
    i64 = lambda t: g.op("Cast", [t], to=7)  # noqa: E731
    width_i = g.op("Gather", [s.hw, g.const(np.int64(1))])
    plane = g.op("ReduceProd", [s.hw], keepdims=0)
    # per axis: the two corners on a trailing axis, so that the full (R, ncls, P, P, spp, spp, 2, 2) index
    # and weight tensors come from one broadcast Add / Mul each
    pair = {}
    for axis, shape in (("h", [0, 0, 0, 0, spp, 1, 2, 1]), ("w", [0, 0, 0, 0, 1, spp, 1, 2])):
        c = s.clamped[axis]
        lo, hi = g.op("Floor", [c]), g.op("Ceil", [c])  # contrib: floor / ceil corners, fraction c - floor
        frac = g.op("Sub", [c, lo])
        ok = s.valid[axis]
        w = g.op("Concat", [g.op("Unsqueeze", [g.op("Mul", [g.op("Sub", [g.scalar(1.0), frac]), ok]), g.ints([5])]),
                            g.op("Unsqueeze", [g.op("Mul", [frac, ok]), g.ints([5])])], axis=5)
        i = g.op("Concat", [g.op("Unsqueeze", [i64(v), g.ints([5])]) for v in (lo, hi)], axis=5)  # (R,.,.,., spp, 2)
        pair[axis] = (g.op("Reshape", [i, g.ints(shape)]), g.op("Reshape", [w, g.ints(shape)]))
    cell = (np.arange(ncls)[:, None, None] * G * G + gcell[None, :, None] * G + gcell[None, None, :])
    base = g.op("Mul", [g.const(cell.reshape(1, ncls, P, P, 1, 1, 1, 1).astype(np.int64)), plane], f"{hint}_cellbase")
    rows_h = g.op("Add", [base, g.op("Mul", [pair["h"][0], width_i])])
    idx = g.op("Add", [rows_h, pair["w"][0]], f"{hint}_idx")  # (R, ncls, P, P, spp, spp, 2, 2)
    count = g.op("Reshape", [s.count, g.ints([0, 0, P, P, 1, 1, 1, 1])])
    wts = g.op("Mul", [g.op("Div", [pair["h"][1], count]), pair["w"][1]], f"{hint}_wts")
    k = spp * spp * 4
    full = g.op("Shape", [idx])
    wts = g.op("Expand", [wts, full])  # (no-trans nets: the class axis of the weights is 1)
    wts = g.op("Reshape", [wts, g.ints([-1, 1, k])], f"{hint}_w3")  # (R ncls P P, 1, K)
    rows = g.op("Reshape", [data, g.ints([ncls, cpc, G * G, -1])])
    rows = g.op("Transpose", [rows], perm=[0, 2, 3, 1])  # (ncls, cell, y*x, cpc): channels last
    rows = g.op("Reshape", [rows, g.ints([-1, cpc])], f"{hint}_rows")
    taps = g.op("Gather", [rows, g.op("Reshape", [idx, g.ints([-1])])], f"{hint}_taps", axis=0)
    taps = g.op("Reshape", [taps, g.ints([-1, k, cpc])])
    y = g.op("MatMul", [wts, taps], f"{hint}_sum")  # (R ncls P P, 1, cpc)
    y = g.op("Reshape", [y, g.ints([-1, ncls, P, P, cpc])])
    return g.op("Transpose", [y], perm=[0, 1, 4, 2, 3])  # (R, ncls, cpc, P, P)


def _taps_gridsample(g: GraphBuilder, data: str, s: _Samples, p: PSROIAttrs, ncls: int, hint: str) -> str:
    """One GridSample (bilinear, align_corners) per (class, group cell) batch on that cell's channels."""
    P, G, spp = p.pooled_size, p.group_size, p.sample_per_part
    cpc = p.output_dim // ncls
    gcell, _ = _cell_maps(p)
    f = lambda v: g.scalar(v)  # noqa: E731
    coords = {}
    for axis in ("w", "h"):
        last = g.op("Sub", [s.extent[axis], f(1.0)])
        # normalised for GridSample(align_corners=1): 2 v / max(n - 1, 1) - 1
        coords[axis] = g.op("Sub", [g.op("Div", [g.op("Mul", [s.clamped[axis], f(2.0)]), g.op("Max", [last, f(1.0)])]),
                                    f(1.0)], f"{hint}_{axis}grid")
    r = g.op("Slice", [g.op("Shape", [s.count]), g.ints([0]), g.ints([1])])
    ones = g.op("ConstantOfShape", [g.op("Concat", [r, g.ints([ncls, P, P, spp, spp, 1])], axis=0)],
                hint=f"{hint}_ones", value=_float_tensor(1.0))
    gx = g.op("Mul", [ones, g.op("Unsqueeze", [coords["w"], g.ints([4, 6])])])  # iw varies on axis 5
    gy = g.op("Mul", [ones, g.op("Unsqueeze", [coords["h"], g.ints([5, 6])])])  # ih on axis 4
    grid = g.op("Concat", [gx, gy], f"{hint}_grid7", axis=6)  # (R, ncls, P, P, spp, spp, 2)
    weight = g.op("Mul", [g.op("Unsqueeze", [s.valid["h"], g.ints([5])]),
                          g.op("Unsqueeze", [s.valid["w"], g.ints([4])])], f"{hint}_valid")
    weight = g.op("Div", [weight, g.op("Unsqueeze", [s.count, g.ints([4, 5])])])
    # group cells as batches: uniform P = s * G, or one batch per bin (channels gathered) otherwise
    uniform = P % G == 0
    cells, sz = (G, P // G) if uniform else (P, 1)
    x = g.op("Reshape", [data, g.ints([ncls, cpc, G * G, -1])], f"{hint}_x4")
    x = g.op("Transpose", [x], perm=[0, 2, 1, 3])
    x = g.op("Reshape", [x, g.op("Concat", [g.ints([ncls * G * G, cpc]), s.hw], axis=0)], f"{hint}_cells")
    if not uniform:
        idx = (np.arange(ncls)[:, None, None] * G * G + gcell[None, :, None] * G + gcell[None, None, :]).reshape(-1)
        x = g.op("Gather", [x, g.const(idx)], f"{hint}_bins", axis=0)
    samples = sz * sz * spp * spp

    def to_batches(t: str, last: int) -> str:  # (R, ncls, P, P, spp, spp[, last]) -> (ncls cells^2, R, samples[, last])
        t = g.op("Reshape", [t, g.ints([0, ncls, cells, sz, cells, sz, spp, spp] + ([last] if last else []))])
        t = g.op("Transpose", [t], perm=[1, 2, 4, 0, 3, 5, 6, 7] + ([8] if last else []))
        return g.op("Reshape", [t, g.ints([ncls * cells * cells, -1, samples] + ([last] if last else []))])
    grid_b = to_batches(grid, 2)
    weight_b = g.op("Unsqueeze", [to_batches(g.op("Mul", [weight, g.op("Squeeze", [ones, g.ints([6])])]), 0),
                                  g.ints([1])])  # (B, 1, R, samples)
    y = g.op("GridSample", [x, grid_b], f"{hint}_taps", mode="bilinear", padding_mode="border", align_corners=1)
    y = g.op("Mul", [y, weight_b])  # (B, cpc, R, samples)
    y = g.op("Reshape", [y, g.ints([ncls * cells * cells, cpc, -1, sz * sz, spp * spp])])
    y = g.op("ReduceSum", [y, g.ints([4])], f"{hint}_mean", keepdims=0)  # (B, cpc, R, s*s), already / count
    y = g.op("Reshape", [y, g.ints([ncls, cells, cells, cpc, -1, sz, sz])])
    return g.op("Transpose", [y], perm=[4, 0, 3, 1, 5, 2, 6])  # (R, ncls, cpc, cells, s, cells, s)


def _float_tensor(value: float):
    from onnx import helper, TensorProto
    return helper.make_tensor("value", TensorProto.FLOAT, [1], [value])
