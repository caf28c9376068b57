"""GPU benchmark: our CUDA kernels against torchvision's CUDA ``deform_conv2d`` and
dense cuDNN convolution (torch), on the shapes of benchmarks/bench_ops.py plus
batch 8 (cases A8..D8), and the R-FCN PS RoI pooling heads, in one run.

    python -m benchmarks.bench_cuda                        # float32, all cases
    python -m benchmarks.bench_cuda --dtype float16 --cases A,A8 --json out.json

Needs a CUDA GPU, torch with CUDA, torchvision and the harness library
(operators/build/libdcn_cuda_harness.so, built by init.sh when nvcc exists); no
MXNet CUDA wheel. torch allocates every tensor and our kernels run on torch's
current stream through the harness *_async entry points, so the three
implementations are timed the same way: median of CUDA-event times per call
after warm-up. fwd+bwd = forward plus backward to data, offset (and mask) and
weight. Dense convolution runs with cuDNN autotuning and, for float32, without
TF32 unless --tf32 (our kernels are plain fp32 FMA).

Targets (issue 12): forward <= 1.5x dense convolution; faster than torchvision
in forward and in forward+backward.
"""
from __future__ import annotations

import argparse
import ctypes
import logging
import statistics
import sys
import time
from typing import Callable

import numpy as np

from benchmarks.cases import CONV_CASES as CPU_CONV_CASES, PSROI_CASES, random_rois, report
from operators import cuda_harness as ch

LOG = logging.getLogger("bench_cuda")

# bench_ops' shapes, plus each at batch 8.
CONV_CASES = dict(CPU_CONV_CASES)
CONV_CASES.update({f"{k}8": (8,) + v[1:] for k, v in CPU_CONV_CASES.items()})


def require_gpu():
    """Imports torch/torchvision and the harness, or exits with the reason."""
    try:
        import torch
        import torchvision  # noqa: F401
        import torchvision.ops  # noqa: F401
    except ImportError as e:
        sys.exit(f"bench_cuda: needs torch and torchvision built with CUDA ({e})")
    if not torch.cuda.is_available():
        sys.exit("bench_cuda: torch sees no CUDA GPU; run this on a GPU machine")
    try:
        ch.load_harness()
    except ch.CudaHarnessError as e:
        sys.exit(f"bench_cuda: {e}")
    if ch.gpu_count() == 0:
        sys.exit("bench_cuda: the harness sees no GPU (is the driver older than the CUDA toolkit that built it? "
                 "rebuild with a matching nvcc)")
    return torch


def time_ms(torch, fn: Callable[[], None], repeats: int, warmup: int = 3, device: str = "cuda") -> float:
    """Median ms per call: CUDA events on a GPU; wall clock on the CPU (gpu_check's dry run on the emulator)."""
    for _ in range(warmup):
        fn()
    if device == "cpu":
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _ptr(t):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _without_cublas(fn: Callable[[], None]) -> Callable[[], None]:
    """fn with DCN_CUBLAS=0 (read by the kernels on every call): our own GEMM kernel."""
    def run():
        with ch.builtin_gemm():
            fn()
    return run


def _stream(torch, device) -> ctypes.c_void_p:
    """torch's current CUDA stream; none on the CPU (the emulated harness ignores streams)."""
    if torch.device(device).type == "cpu":
        return ctypes.c_void_p(None)
    return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)


def _check(err: int, what: str) -> None:
    if err:
        raise ch.CudaHarnessError(f"{what}: CUDA error {err}: {ch.load_harness().dcn_h_error_string(err).decode()}")


class OursConv:
    """Our deformable / modulated convolution on torch tensors (harness *_async calls)."""

    def __init__(self, torch, x, off, w, mask, dil, dg, deterministic=False):
        self.torch, self.lib = torch, ch.load_harness()
        self.x, self.off, self.w, self.mask = x, off, w, mask
        self.rule = 1 if mask is not None else 0  # modulated = DCNv2 rule; plain op = MXNet's DCNv1 rule
        self.code = {torch.float32: 0, torch.float64: 1, torch.float16: 2}[x.dtype]
        self.det = int(deterministic)
        self.geom = np.array([x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0], 3, 3, 1, 1, dil, dil,
                              dil, dil, 1, dg], dtype=np.int64)
        g = self.geom.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))
        self.g = g
        ws_f = self.lib.dcn_h_deform_conv_workspace(g, self.rule, self.code, 0, 0, 0)
        ws_b = self.lib.dcn_h_deform_conv_workspace(g, self.rule, self.code, 0, 1, self.det)
        if ws_f < 0 or ws_b < 0:
            raise ch.CudaHarnessError("invalid geometry")
        dev = x.device
        self.ws_f = torch.empty(max(ws_f, 1), dtype=torch.uint8, device=dev)
        self.ws_b = torch.empty(max(ws_b, 1), dtype=torch.uint8, device=dev)
        self.out = torch.empty((x.shape[0], w.shape[0], x.shape[2], x.shape[3]), dtype=x.dtype, device=dev)
        self.dout = torch.randn_like(self.out)
        self.dx, self.doff, self.dw = torch.empty_like(x), torch.empty_like(off), torch.empty_like(w)
        self.dmask = torch.empty_like(mask) if mask is not None else None

    def stream(self):
        return _stream(self.torch, self.x.device)

    def forward(self):
        _check(self.lib.dcn_h_deform_conv_forward_async(
            self.g, self.rule, self.code, 0, _ptr(self.x), _ptr(self.off), _ptr(self.mask), _ptr(self.w), None,
            _ptr(self.out), _ptr(self.ws_f), self.stream()), "forward")

    def forward_backward(self):
        self.forward()
        _check(self.lib.dcn_h_deform_conv_backward_async(
            self.g, self.rule, self.code, 0, self.det, _ptr(self.dout), _ptr(self.x), _ptr(self.off),
            _ptr(self.mask), _ptr(self.w), _ptr(self.dx), _ptr(self.doff), _ptr(self.dmask), _ptr(self.dw), None,
            _ptr(self.ws_b), self.stream()), "backward")


def conv_rows(torch, case: str, dtype, repeats: int, device: str = "cuda", shape: tuple | None = None) -> list[dict]:
    """Ours, torchvision and dense conv on one case (shape: (N, C, H, W, F, dilation, dgroups), else CONV_CASES)."""
    import torch.nn.functional as F
    from torchvision.ops import deform_conv2d

    N, C, H, W, Fo, dil, dg = shape or CONV_CASES[case]
    gen = torch.Generator(device=device).manual_seed(0)
    kw = dict(device=device, dtype=dtype)
    x = torch.randn(N, C, H, W, generator=gen, **kw)
    off = (torch.rand(N, 2 * dg * 9, H, W, generator=gen, **kw) * 4 - 2)  # uniform [-2, 2] as bench_ops
    mask = torch.rand(N, dg * 9, H, W, generator=gen, **kw)
    w = torch.randn(Fo, C, 3, 3, generator=gen, **kw) * 0.01
    dy = torch.randn(N, Fo, H, W, generator=gen, **kw)

    def tv(m):
        def fwd():
            with torch.no_grad():
                deform_conv2d(x, off, w, None, padding=(dil, dil), dilation=(dil, dil), mask=m)

        xs, offs, ws = (t.detach().clone().requires_grad_() for t in (x, off, w))
        ms = m.detach().clone().requires_grad_() if m is not None else None

        def fb():
            y = deform_conv2d(xs, offs, ws, None, padding=(dil, dil), dilation=(dil, dil), mask=ms)
            y.backward(dy)
        return fwd, fb

    def dense():
        def fwd():
            with torch.no_grad():
                F.conv2d(x, w, padding=dil, dilation=dil)

        xs, ws = (t.detach().clone().requires_grad_() for t in (x, w))

        def fb():
            F.conv2d(xs, ws, padding=dil, dilation=dil).backward(dy)
        return fwd, fb

    runs = []
    for name, m in (("deformable", None), ("modulated", mask)):
        ours = OursConv(torch, x, off, w, m, dil, dg)
        runs.append((f"{name} (ours)", ours.forward, ours.forward_backward))
        if name == "deformable" and ch.gemm_backend().startswith("cuBLAS"):  # what cuBLAS buys
            runs.append((f"{name} (ours, built-in GEMM)", _without_cublas(ours.forward),
                         _without_cublas(ours.forward_backward)))
        if name == "deformable":
            det = OursConv(torch, x, off, w, m, dil, dg, deterministic=True)
            runs.append((f"{name} (ours, deterministic bwd)", None, det.forward_backward))
        runs.append((f"{name} (torchvision)",) + tv(m))
    runs.append(("dense conv (cuDNN)",) + dense())
    rows = []
    for name, fwd, fb in runs:
        row = dict(case=case, shape=f"N{N} C{C} {H}x{W} F{Fo} dil{dil} dg{dg}", op=name,
                   fwd_ms=time_ms(torch, fwd, repeats, device=device) if fwd else None,
                   fwdbwd_ms=time_ms(torch, fb, repeats, device=device))
        rows.append(row)
        LOG.info("%-3s %-36s fwd %s  fwd+bwd %8.3f ms", case, name,
                 f"{row['fwd_ms']:8.3f} ms" if row["fwd_ms"] else "     n/a", row["fwdbwd_ms"])
    dense_row = rows[-1]
    by_op = {r["op"]: r for r in rows}
    for r in rows:
        if r["fwd_ms"]:
            r["fwd_vs_dense"] = r["fwd_ms"] / dense_row["fwd_ms"]
        r["fwdbwd_vs_dense"] = r["fwdbwd_ms"] / dense_row["fwdbwd_ms"]
        if "(ours" in r["op"]:
            ref = by_op[r["op"].split(" (")[0] + " (torchvision)"]
            if r["fwd_ms"]:
                r["fwd_speedup_vs_torchvision"] = ref["fwd_ms"] / r["fwd_ms"]
            r["fwdbwd_speedup_vs_torchvision"] = ref["fwdbwd_ms"] / r["fwdbwd_ms"]
    return rows


def psroi_rows(torch, case: str, dtype, repeats: int, device: str = "cuda", size: tuple = (38, 63, 300)) -> list[dict]:
    """Ours and torchvision's (not deformable) ps_roi_align on an R-FCN head; size: (H, W, RoIs)."""
    from torchvision.ops import ps_roi_align

    out_dim, classes = PSROI_CASES[case]
    (H, W, R), k = size, 7
    rng = np.random.RandomState(0)
    kw = dict(device=device, dtype=dtype)
    data = torch.tensor(rng.randn(1, out_dim * k * k, H, W), **kw)
    rois = torch.tensor(random_rois(rng, R, H, W), **kw)
    trans = torch.tensor(rng.randn(R, 2 * classes, k, k) * 0.5, **kw)
    lib = ch.load_harness()
    code = {torch.float32: 0, torch.float64: 1, torch.float16: 2}[dtype]
    geom = np.array([1, out_dim * k * k, H, W, R, out_dim, k, k, k, 4, classes, 0], dtype=np.int64)
    g = geom.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))
    scale, tstd = 1 / 16, 0.1
    ws = torch.empty(max(lib.dcn_h_psroi_workspace(g, scale, tstd, code, 1, 0), 1), dtype=torch.uint8,
                     device=device)
    out = torch.empty(R, out_dim, k, k, **kw)
    dout = torch.randn_like(out)
    ddata, dtrans = torch.empty_like(data), torch.empty_like(trans)

    def stream():
        return _stream(torch, device)

    def fwd():
        _check(lib.dcn_h_psroi_forward_async(g, scale, tstd, code, _ptr(data), _ptr(rois), _ptr(trans), _ptr(out),
                                             _ptr(ws), stream()), "psroi forward")

    def fb():
        fwd()
        _check(lib.dcn_h_psroi_backward_async(g, scale, tstd, code, 0, _ptr(dout), _ptr(data), _ptr(rois),
                                              _ptr(trans), _ptr(ddata), _ptr(dtrans), _ptr(ws), stream()),
               "psroi backward")

    def tv_fwd():
        with torch.no_grad():
            ps_roi_align(data, rois, k, spatial_scale=scale, sampling_ratio=4)

    data_g = data.detach().clone().requires_grad_()

    def tv_fb():
        ps_roi_align(data_g, rois, k, spatial_scale=scale, sampling_ratio=4).backward(dout)

    rows = []
    for name, f, b in (("deformable PS RoI pooling (ours)", fwd, fb),
                       ("ps_roi_align, not deformable (torchvision, reference)", tv_fwd, tv_fb)):
        rows.append(dict(case=case, shape=f"trans {tuple(trans.shape)}", op=name,
                         fwd_ms=time_ms(torch, f, repeats, device=device),
                         fwdbwd_ms=time_ms(torch, b, repeats, device=device)))
        LOG.info("%s %-50s fwd %8.3f ms  fwd+bwd %8.3f ms", case, name, rows[-1]["fwd_ms"], rows[-1]["fwdbwd_ms"])
    return rows


def _fmt(v, pattern="{:.3f}"):
    return "" if v is None else pattern.format(v)


def markdown(rows: list[dict]) -> str:
    lines = ["| case | shape | op | fwd ms | fwd+bwd ms | fwd / dense | fwd+bwd / dense | "
             "speed-up vs torchvision (fwd / fwd+bwd) |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = ""
        if "fwdbwd_speedup_vs_torchvision" in r:
            speed = (f"{_fmt(r.get('fwd_speedup_vs_torchvision'), '{:.2f}x')} / "
                     f"{r['fwdbwd_speedup_vs_torchvision']:.2f}x")
        lines.append(f"| {r['case']} | {r['shape']} | {r['op']} | {_fmt(r['fwd_ms'])} | {_fmt(r['fwdbwd_ms'])} | "
                     f"{_fmt(r.get('fwd_vs_dense'), '{:.2f}')} | {_fmt(r.get('fwdbwd_vs_dense'), '{:.2f}')} | "
                     f"{speed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CONV_CASES), help="conv cases, e.g. A,A8 ('' for none)")
    parser.add_argument("--psroi", default=",".join(PSROI_CASES), help="PS RoI pooling cases ('' for none)")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in the dense float32 convolution")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch = require_gpu()
    import torchvision
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    dtype = getattr(torch, args.dtype)
    rows = []
    for case in filter(None, args.cases.split(",")):
        rows += conv_rows(torch, case.strip(), dtype, args.repeats)
    for case in filter(None, args.psroi.split(",")):
        rows += psroi_rows(torch, case.strip(), dtype, args.repeats)
    header = (f"{torch.cuda.get_device_name()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
              f"cuDNN {torch.backends.cudnn.version()}, {args.dtype}, TF32 {'on' if args.tf32 else 'off'}")
    report(header, markdown(rows), rows, args.json)


if __name__ == "__main__":
    main()
