"""ctypes front end of ``build/libdcn_cuda_harness.so``: runs the CUDA kernels on
numpy arrays, without an MXNet CUDA wheel (the harness links its own static
cudart and allocates with it). Used by tests/operators/test_cuda_kernels.py and
benchmarks/bench_cuda.py.

    from operators import cuda_harness as ch
    if ch.gpu_count():
        y = ch.deform_conv_forward(x, offset, weight, pad=(1, 1))

Arrays are NCHW numpy arrays of one dtype: float32, float64 or float16 (fp16
storage, fp32 math inside the kernels).

``build/libdcn_cuda_emu.so`` is the same kernels and harness compiled with g++
against a CPU emulation of the CUDA runtime (operators/src/emu): select it
with ``use(EMULATOR_PATH)`` to test the kernels' logic without a GPU (serial:
it cannot show races or GPU-specific rounding).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .paths import BUILD_DIR

HARNESS_PATH = Path(os.environ.get("DCN_CUDA_HARNESS", BUILD_DIR / "libdcn_cuda_harness.so"))
CUDA_LIBRARY_PATH = BUILD_DIR / "libdcn_ops_cuda.so"
EMULATOR_PATH = BUILD_DIR / "libdcn_cuda_emu.so"
# CPU stand-in for cuBLAS, accepted only by the emulator (DCN_CUBLAS_LIBRARY=...): tests its cuBLAS path.
CUBLAS_EMULATOR_PATH = BUILD_DIR / "libdcn_cublas_emu.so"
ENTRY_POINTS = (
    "dcn_h_is_emulation", "dcn_h_error_string", "dcn_h_device_count", "dcn_h_malloc", "dcn_h_free", "dcn_h_h2d", "dcn_h_d2h",
    "dcn_h_synchronize", "dcn_h_conv_out_size", "dcn_h_deform_conv_forward", "dcn_h_deform_conv_backward",
    "dcn_h_psroi_forward", "dcn_h_psroi_backward", "dcn_h_deform_conv_workspace",
    "dcn_h_deform_conv_forward_async", "dcn_h_deform_conv_backward_async", "dcn_h_psroi_workspace",
    "dcn_h_psroi_forward_async", "dcn_h_psroi_backward_async", "dcn_h_gemm_backend",
)
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.float16): 2}
_libs: dict = {}
_active = HARNESS_PATH


class CudaHarnessError(RuntimeError):
    """The harness library is missing, or a CUDA call failed."""


def use(path) -> None:
    """Selects the harness library the functions below call (default HARNESS_PATH)."""
    global _active
    _active = Path(path)


def load_harness(path=None) -> ctypes.CDLL:
    path = Path(path or _active)
    if path in _libs:
        return _libs[path]
    if not path.is_file():
        raise CudaHarnessError(f"{path} not found: it is built by `bash init.sh` when nvcc is on PATH "
                               "(or `make -C operators CUDA=1 PYTHON=$(which python)`)")
    lib = ctypes.CDLL(str(path))
    vp, i64p, c = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_int
    lib.dcn_h_error_string.restype = ctypes.c_char_p
    lib.dcn_h_gemm_backend.argtypes = []
    lib.dcn_h_error_string.argtypes = [c]
    lib.dcn_h_is_emulation.argtypes = []
    lib.dcn_h_device_count.argtypes = [ctypes.POINTER(c)]
    lib.dcn_h_malloc.argtypes = [ctypes.POINTER(vp), ctypes.c_size_t]
    lib.dcn_h_free.argtypes = [vp]
    lib.dcn_h_h2d.argtypes = [vp, vp, ctypes.c_size_t]
    lib.dcn_h_d2h.argtypes = [vp, vp, ctypes.c_size_t]
    lib.dcn_h_conv_out_size.argtypes = [i64p, i64p]
    lib.dcn_h_deform_conv_forward.argtypes = [i64p, c, c, ctypes.c_int64] + [vp] * 6
    lib.dcn_h_deform_conv_backward.argtypes = [i64p, c, c, ctypes.c_int64, c] + [vp] * 10
    f = ctypes.c_float
    lib.dcn_h_psroi_forward.argtypes = [i64p, f, f, c] + [vp] * 4
    lib.dcn_h_psroi_backward.argtypes = [i64p, f, f, c, c] + [vp] * 6
    # *_async: device pointers (any allocator of this process, e.g. torch) + workspace + stream
    lib.dcn_h_deform_conv_workspace.argtypes = [i64p, c, c, ctypes.c_int64, c, c]
    lib.dcn_h_deform_conv_forward_async.argtypes = [i64p, c, c, ctypes.c_int64] + [vp] * 8
    lib.dcn_h_deform_conv_backward_async.argtypes = [i64p, c, c, ctypes.c_int64, c] + [vp] * 12
    lib.dcn_h_psroi_workspace.argtypes = [i64p, f, f, c, c, c]
    lib.dcn_h_psroi_forward_async.argtypes = [i64p, f, f, c] + [vp] * 6
    lib.dcn_h_psroi_backward_async.argtypes = [i64p, f, f, c, c] + [vp] * 8
    for name in ENTRY_POINTS:
        if name not in ("dcn_h_error_string", "dcn_h_gemm_backend"):
            getattr(lib, name).restype = c
    lib.dcn_h_gemm_backend.restype = ctypes.c_char_p
    lib.dcn_h_deform_conv_workspace.restype = ctypes.c_int64
    lib.dcn_h_psroi_workspace.restype = ctypes.c_int64
    _libs[path] = lib
    return lib


def gpu_count(path=None) -> int:
    """CUDA devices the harness sees; 0 without the library, a driver or a GPU
    (the emulator reports one device)."""
    try:
        lib = load_harness(path)
    except (CudaHarnessError, OSError):
        return 0
    n = ctypes.c_int(0)
    return n.value if lib.dcn_h_device_count(ctypes.byref(n)) == 0 else 0


def gemm_backend(path=None) -> str:
    """The deformable convolution's GEMM: 'cuBLAS (libcublas.so.N)' or 'built-in GEMM (why)'.
    cuBLAS is looked up once per process, at the first call of this or of a convolution."""
    return load_harness(path).dcn_h_gemm_backend().decode()


@contextlib.contextmanager
def builtin_gemm():
    """Within the block the convolutions use our own GEMM kernel, not cuBLAS (DCN_CUBLAS=0 is read on every
    call); the variable's previous state is restored afterwards."""
    old = os.environ.get("DCN_CUBLAS")
    os.environ["DCN_CUBLAS"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DCN_CUBLAS", None)
        else:
            os.environ["DCN_CUBLAS"] = old


def find_cublas() -> Optional[str]:
    """A libcublas.so.N from the NVIDIA pip wheels on sys.path (PyTorch's, nvidia-cublas-cu11/12/13), or None.
    Set DCN_CUBLAS_LIBRARY to it before the first convolution where no libcublas is on the loader path."""
    import sys
    for root in map(Path, sys.path):
        nvidia = root / "nvidia"
        if not nvidia.is_dir():
            continue
        found = sorted(nvidia.glob("*/lib/libcublas.so.*"), reverse=True)
        found = [p for p in found if p.name.count(".") == 2]  # the soname libcublas.so.N, not .so.N.M.K
        if found:
            return str(found[0])
    return None


def is_emulation(path=None) -> bool:
    return bool(load_harness(path).dcn_h_is_emulation())


def _check(err: int, what: str) -> None:
    if err:
        raise CudaHarnessError(f"{what}: CUDA error {err}: {load_harness().dcn_h_error_string(err).decode()}")


class _Device:
    """Device copies of host arrays for one call; freed on exit."""

    def __init__(self):
        self.ptrs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        lib = load_harness()
        for p in self.ptrs:
            lib.dcn_h_free(p)

    def alloc(self, nbytes: int) -> ctypes.c_void_p:
        p = ctypes.c_void_p()
        _check(load_harness().dcn_h_malloc(ctypes.byref(p), max(int(nbytes), 1)), "cudaMalloc")
        self.ptrs.append(p)
        return p

    def put(self, a: Optional[np.ndarray]) -> Optional[ctypes.c_void_p]:
        if a is None:
            return None
        a = np.ascontiguousarray(a)
        p = self.alloc(a.nbytes)
        if a.nbytes:
            _check(load_harness().dcn_h_h2d(p, a.ctypes.data_as(ctypes.c_void_p), a.nbytes), "copy to device")
        return p

    def get(self, p: ctypes.c_void_p, shape: Sequence[int], dtype) -> np.ndarray:
        out = np.empty(shape, dtype=dtype)
        if out.nbytes:
            _check(load_harness().dcn_h_d2h(out.ctypes.data_as(ctypes.c_void_p), p, out.nbytes), "copy to host")
        return out


def _dtype_code(*arrays) -> int:
    dts = {a.dtype for a in arrays if a is not None}
    if len(dts) != 1 or next(iter(dts)) not in _DTYPES:
        raise TypeError(f"arrays must share one dtype of float32/float64/float16, got {sorted(map(str, dts))}")
    return _DTYPES[next(iter(dts))]


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv_geom(x, weight, stride=(1, 1), pad=(0, 0), dilate=(1, 1), groups=1, dgroups=1):
    N, C, H, W = x.shape
    F, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilate)
    geom = np.array([N, C, H, W, F, kh, kw, sh, sw, dh, dw, ph, pw, groups, dgroups], dtype=np.int64)
    out = np.zeros(2, dtype=np.int64)
    _check(load_harness().dcn_h_conv_out_size(_i64(geom), _i64(out)), "invalid convolution geometry")
    return geom, (N, F, int(out[0]), int(out[1]))


def _i64(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))


def deform_conv_forward(x, offset, weight, mask=None, bias=None, *, stride=(1, 1), pad=(0, 0), dilate=(1, 1),
                        groups=1, dgroups=1, rule="dcnv1", budget_bytes=0) -> np.ndarray:
    """DeformableConvolution (rule dcnv1|dcnv2) or, with a mask, the modulated op (use rule='dcnv2')."""
    lib = load_harness()
    code = _dtype_code(x, offset, weight, mask, bias)
    geom, oshape = conv_geom(x, weight, stride, pad, dilate, groups, dgroups)
    with _Device() as d:
        out = d.alloc(int(np.prod(oshape)) * x.dtype.itemsize)
        _check(lib.dcn_h_deform_conv_forward(_i64(geom), int(rule == "dcnv2"), code, int(budget_bytes), d.put(x),
                                             d.put(offset), d.put(mask), d.put(weight), d.put(bias), out),
               "deform_conv_forward")
        return d.get(out, oshape, x.dtype)


def deform_conv_backward(dout, x, offset, weight, mask=None, with_bias=False, *, stride=(1, 1), pad=(0, 0),
                         dilate=(1, 1), groups=1, dgroups=1, rule="dcnv1", budget_bytes=0,
                         deterministic=False) -> dict:
    """Gradients dict: data, offset, weight (+ mask, bias)."""
    lib = load_harness()
    code = _dtype_code(dout, x, offset, weight, mask)
    geom, _ = conv_geom(x, weight, stride, pad, dilate, groups, dgroups)
    with _Device() as d:
        gx, goff, gw = d.alloc(x.nbytes), d.alloc(offset.nbytes), d.alloc(weight.nbytes)
        gm = d.alloc(mask.nbytes) if mask is not None else None
        gb = d.alloc(weight.shape[0] * x.dtype.itemsize) if with_bias else None
        _check(lib.dcn_h_deform_conv_backward(_i64(geom), int(rule == "dcnv2"), code, int(budget_bytes),
                                              int(bool(deterministic)), d.put(dout), d.put(x), d.put(offset),
                                              d.put(mask), d.put(weight), gx, goff, gm, gw, gb),
               "deform_conv_backward")
        out = {"data": d.get(gx, x.shape, x.dtype), "offset": d.get(goff, offset.shape, x.dtype),
               "weight": d.get(gw, weight.shape, x.dtype)}
        if mask is not None:
            out["mask"] = d.get(gm, mask.shape, x.dtype)
        if with_bias:
            out["bias"] = d.get(gb, (weight.shape[0],), x.dtype)
        return out


def psroi_geom(data, rois, trans, *, output_dim, group_size, pooled_size, part_size=0, sample_per_part=1,
               no_trans=False):
    N, C, H, W = data.shape
    part = part_size or pooled_size
    classes = 1 if no_trans or trans is None else trans.shape[1] // 2
    return np.array([N, C, H, W, rois.shape[0], output_dim, group_size, pooled_size, part, sample_per_part,
                     classes, int(no_trans or trans is None)], dtype=np.int64)


def psroi_forward(data, rois, trans=None, *, spatial_scale, output_dim, group_size, pooled_size, part_size=0,
                  sample_per_part=1, trans_std=0.0, no_trans=False) -> np.ndarray:
    """DeformablePSROIPooling forward (RoIs must be valid: the MXNet op checks them, the harness does not)."""
    lib = load_harness()
    code = _dtype_code(data, rois, None if no_trans else trans)
    geom = psroi_geom(data, rois, trans, output_dim=output_dim, group_size=group_size, pooled_size=pooled_size,
                      part_size=part_size, sample_per_part=sample_per_part, no_trans=no_trans)
    oshape = (rois.shape[0], output_dim, pooled_size, pooled_size)
    with _Device() as d:
        out = d.alloc(int(np.prod(oshape)) * data.dtype.itemsize)
        _check(lib.dcn_h_psroi_forward(_i64(geom), spatial_scale, trans_std, code, d.put(data), d.put(rois),
                                       None if no_trans else d.put(trans), out), "psroi_forward")
        return d.get(out, oshape, data.dtype)


def psroi_backward(dout, data, rois, trans=None, *, spatial_scale, output_dim, group_size, pooled_size,
                   part_size=0, sample_per_part=1, trans_std=0.0, no_trans=False, deterministic=False) -> dict:
    lib = load_harness()
    code = _dtype_code(dout, data, rois, None if no_trans else trans)
    geom = psroi_geom(data, rois, trans, output_dim=output_dim, group_size=group_size, pooled_size=pooled_size,
                      part_size=part_size, sample_per_part=sample_per_part, no_trans=no_trans)
    with _Device() as d:
        gd = d.alloc(data.nbytes)
        gt = None if no_trans else d.alloc(trans.nbytes)
        _check(lib.dcn_h_psroi_backward(_i64(geom), spatial_scale, trans_std, code, int(bool(deterministic)),
                                        d.put(dout), d.put(data), d.put(rois), None if no_trans else d.put(trans),
                                        gd, gt), "psroi_backward")
        out = {"data": d.get(gd, data.shape, data.dtype)}
        if not no_trans:
            out["trans"] = d.get(gt, trans.shape, data.dtype)
        return out
