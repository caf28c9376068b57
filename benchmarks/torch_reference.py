"""Plain-PyTorch references of our three operators, for the GPU check (benchmarks/gpu_check.py)
on machines with torch but no MXNet. Written from the operators' definitions (not from our
kernels): gathers and arithmetic only, so autograd gives the backward, and float64 on small
cases makes them the oracle. torchvision's ``deform_conv2d`` checks the DCNv2 rule independently.

* ``deform_conv2d``: deformable convolution with MXNet's DCNv1 border rule (``rule="dcnv1"``: a
  sample counts iff 0 <= h < H and 0 <= w < W; in the last row/column the coordinate is clamped
  to H-1 / W-1, so its derivative there is 0) or the DCNv2 zero-padded rule (``rule="dcnv2"``:
  -1 < h < H, corners outside the map read 0), optional mask (modulated), groups, deformable
  groups, stride, padding, dilation, bias. Offsets: (N, dgroups*2*kh*kw, Ho, Wo), (dy, dx) per tap.
* ``deformable_psroi_pool``: MXNet contrib DeformablePSROIPooling (R-FCN's deformable
  position-sensitive RoI pooling): C's round() of the RoI corners, bins of sample_per_part^2
  samples moved by trans * trans_std * RoI size, a sample counts iff -0.5 <= x <= W-0.5, then is
  clamped to [0, W-1] and interpolated between floor and ceil; average over counted samples.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch

IntPair = Union[int, Sequence[int]]


def _pair(v: IntPair) -> tuple:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _gather_plane(planes: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, W: int) -> torch.Tensor:
    """planes (N, G, c, H*W); rows, cols (N, G, K) long, in range -> (N, G, c, K)."""
    idx = (rows * W + cols).unsqueeze(2).expand(-1, -1, planes.shape[2], -1)
    return torch.gather(planes, 3, idx)


def bilinear_sample(planes: torch.Tensor, h: torch.Tensor, w: torch.Tensor, H: int, W: int,
                    rule: str) -> torch.Tensor:
    """Samples planes (N, G, c, H*W) at (h, w) (N, G, K) with a convolution border rule -> (N, G, c, K)."""
    if rule == "dcnv1":
        valid = (h >= 0) & (w >= 0) & (h < H) & (w < W)
        hc, wc = h.clamp(0, H - 1), w.clamp(0, W - 1)  # last row/column: fraction dropped, derivative 0
        h_lo, w_lo = hc.floor(), wc.floor()
        h_hi, w_hi = (h_lo + 1).clamp(max=H - 1), (w_lo + 1).clamp(max=W - 1)
        lh, lw = hc - h_lo, wc - w_lo
        ok = [valid] * 4
    elif rule == "dcnv2":
        valid = (h > -1) & (w > -1) & (h < H) & (w < W)
        hs, ws = torch.where(valid, h, torch.zeros_like(h)), torch.where(valid, w, torch.zeros_like(w))
        h_lo, w_lo = hs.floor(), ws.floor()
        h_hi, w_hi = h_lo + 1, w_lo + 1
        lh, lw = hs - h_lo, ws - w_lo
        okh = (h_lo >= 0, h_hi <= H - 1)
        okw = (w_lo >= 0, w_hi <= W - 1)
        ok = [valid & okh[0] & okw[0], valid & okh[0] & okw[1], valid & okh[1] & okw[0], valid & okh[1] & okw[1]]
    else:
        raise ValueError(f"rule must be 'dcnv1' or 'dcnv2', got {rule!r}")
    hh, hw = 1 - lh, 1 - lw
    corners = ((h_lo, w_lo, hh * hw), (h_lo, w_hi, hh * lw), (h_hi, w_lo, lh * hw), (h_hi, w_hi, lh * lw))
    out = None
    for (r, c, wt), k_ok in zip(corners, ok):
        r = r.clamp(0, H - 1).long()
        c = c.clamp(0, W - 1).long()
        term = _gather_plane(planes, r, c, W) * torch.where(k_ok, wt, torch.zeros_like(wt)).unsqueeze(2)
        out = term if out is None else out + term
    return out


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
                  mask: Optional[torch.Tensor] = None, *, stride: IntPair = 1, pad: IntPair = 0,
                  dilation: IntPair = 1, groups: int = 1, dgroups: int = 1, rule: str = "dcnv1") -> torch.Tensor:
    """Deformable (mask=None) or modulated deformable convolution, NCHW."""
    N, C, H, W = x.shape
    F, Cg, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilation)
    Ho = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    Wo = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    kk, cpg = kh * kw, C // dgroups
    if C != Cg * groups or C % dgroups or F % groups:
        raise ValueError(f"channels {C}, weight {tuple(weight.shape)}, groups {groups}, dgroups {dgroups} disagree")
    if offset.shape != (N, dgroups * 2 * kk, Ho, Wo):
        raise ValueError(f"offset shape {tuple(offset.shape)}, expected {(N, dgroups * 2 * kk, Ho, Wo)}")
    dev, dt = x.device, x.dtype
    tap_h = (torch.arange(kh, device=dev, dtype=dt) * dh).repeat_interleave(kw)  # (kk,)
    tap_w = (torch.arange(kw, device=dev, dtype=dt) * dw).repeat(kh)
    base_h = tap_h.view(kk, 1, 1) + (torch.arange(Ho, device=dev, dtype=dt) * sh - ph).view(1, Ho, 1)
    base_w = tap_w.view(kk, 1, 1) + (torch.arange(Wo, device=dev, dtype=dt) * sw - pw).view(1, 1, Wo)
    off = offset.view(N, dgroups, kk, 2, Ho, Wo)
    h = (base_h + off[:, :, :, 0]).reshape(N, dgroups, kk * Ho * Wo)
    w = (base_w + off[:, :, :, 1]).reshape(N, dgroups, kk * Ho * Wo)
    val = bilinear_sample(x.reshape(N, dgroups, cpg, H * W), h, w, H, W, rule)  # (N, dg, cpg, kk*Ho*Wo)
    if mask is not None:
        if mask.shape != (N, dgroups * kk, Ho, Wo):
            raise ValueError(f"mask shape {tuple(mask.shape)}, expected {(N, dgroups * kk, Ho, Wo)}")
        val = val * mask.reshape(N, dgroups, 1, kk * Ho * Wo)
    col = val.reshape(N, groups, Cg * kk, Ho * Wo)  # channel-major, tap-minor: the weight's (Cg, kh, kw) order
    out = torch.einsum("gfk,ngkp->ngfp", weight.reshape(groups, F // groups, Cg * kk), col)
    out = out.reshape(N, F, Ho, Wo)
    return out if bias is None else out + bias.view(1, F, 1, 1)


def _c_round(v: torch.Tensor) -> torch.Tensor:
    """C's round(): halves away from zero (torch.round rounds them to even)."""
    return torch.sign(v) * torch.floor(v.abs() + 0.5)


def deformable_psroi_pool(data: torch.Tensor, rois: torch.Tensor, trans: Optional[torch.Tensor], *,
                          spatial_scale: float, output_dim: int, group_size: int, pooled_size: int,
                          part_size: int = 0, sample_per_part: int = 1, trans_std: float = 0.0) -> torch.Tensor:
    """Deformable PS RoI pooling (trans None: no_trans). rois (R, 5): batch index, x1, y1, x2, y2."""
    N, C, H, W = data.shape
    R, P, G, S = rois.shape[0], pooled_size, group_size, sample_per_part
    Q = part_size or pooled_size
    if C != output_dim * G * G:
        raise ValueError(f"data has {C} channels, expected output_dim * group_size^2 = {output_dim * G * G}")
    dev, dt = data.device, data.dtype
    classes = 1 if trans is None else trans.shape[1] // 2
    per_class = output_dim // classes
    r = rois.to(dt)
    start_w = _c_round(r[:, 1]) * spatial_scale - 0.5
    start_h = _c_round(r[:, 2]) * spatial_scale - 0.5
    roi_w = torch.clamp((_c_round(r[:, 3]) + 1) * spatial_scale - 0.5 - start_w, min=0.1)
    roi_h = torch.clamp((_c_round(r[:, 4]) + 1) * spatial_scale - 0.5 - start_h, min=0.1)
    bin_w, bin_h = roi_w / P, roi_h / P
    # Integer tables of the bins, with contrib's formulas in floating point.
    pidx = [int(math.floor(float(p) / P * Q)) for p in range(P)]
    gidx = [min(max(int(math.floor(float(p) * G / P)), 0), G - 1) for p in range(P)]
    part = torch.tensor([min(max(i, 0), Q - 1) for i in pidx], device=dev)
    gcell = torch.tensor(gidx, device=dev)
    ctop = torch.arange(output_dim, device=dev)
    if trans is None:
        tx = ty = torch.zeros(R, output_dim, P, P, device=dev, dtype=dt)
    else:
        cls = ctop // per_class  # (D,)
        t = trans.view(R, classes, 2, Q, Q)
        sel = t[:, cls][:, :, :, part][:, :, :, :, part]  # (R, D, 2, P, P)
        tx, ty = sel[:, :, 0] * trans_std, sel[:, :, 1] * trans_std
    pw = torch.arange(P, device=dev, dtype=dt)
    wstart = pw.view(1, 1, 1, P) * bin_w.view(R, 1, 1, 1) + start_w.view(R, 1, 1, 1) + tx * roi_w.view(R, 1, 1, 1)
    hstart = pw.view(1, 1, P, 1) * bin_h.view(R, 1, 1, 1) + start_h.view(R, 1, 1, 1) + ty * roi_h.view(R, 1, 1, 1)
    sub = torch.arange(S, device=dev, dtype=dt)
    # (R, D, P, P, S, S): samples ih (rows) x iw (columns) of each bin
    ws = wstart[..., None, None] + (sub.view(1, S) * (bin_w / S).view(R, 1, 1, 1, 1, 1))
    hs = hstart[..., None, None] + (sub.view(S, 1) * (bin_h / S).view(R, 1, 1, 1, 1, 1))
    ws, hs = torch.broadcast_tensors(ws, hs)
    valid = (ws >= -0.5) & (ws <= W - 0.5) & (hs >= -0.5) & (hs <= H - 0.5)
    wc, hc = ws.clamp(0, W - 1), hs.clamp(0, H - 1)
    x1, y1 = wc.floor(), hc.floor()
    x2, y2 = wc.ceil(), hc.ceil()
    dx, dy = wc - x1, hc - y1
    chan = (ctop.view(output_dim, 1, 1) * G + gcell.view(1, P, 1)) * G + gcell.view(1, 1, P)  # (D, P, P)
    batch = rois[:, 0].long().view(R, 1, 1, 1, 1, 1)
    plane = (batch * C + chan.view(1, output_dim, P, P, 1, 1)) * (H * W)
    flat = data.reshape(-1)

    def at(y, x):
        return flat[(plane + y.long() * W + x.long()).reshape(-1)].view(y.shape)

    val = ((1 - dx) * (1 - dy) * at(y1, x1) + (1 - dx) * dy * at(y2, x1) + dx * (1 - dy) * at(y1, x2)
           + dx * dy * at(y2, x2))
    val = torch.where(valid, val, torch.zeros_like(val))
    count = valid.sum(dim=(-1, -2)).to(dt)
    total = val.sum(dim=(-1, -2))
    return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
