"""CUDA kernels, run directly through the ctypes harness (operators/cuda_harness.py,
no MXNet CUDA wheel needed) and compared with the CPU operators on random cases.

Two kinds of tests:
* build checks (run wherever nvcc is on PATH, e.g. CI without a GPU): the CUDA
  libraries were built, export their entry points and load in this MXNet;
* kernel checks: forward and backward of every op in float64 / float32 /
  float16 against the CPU op, chunked and unchunked, and the deterministic
  backward (bitwise repeatable, equal to the atomic one within rounding). Each
  runs on two backends: "gpu" (the real harness; skipped without a GPU) and
  "emulator" (the same .cu sources compiled with g++ against the serial CPU
  emulation of the CUDA runtime in operators/src/emu: checks the kernels'
  logic everywhere, but not races or GPU rounding).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest

from operators import cuda_harness as ch

NVCC = shutil.which("nvcc")
N_GPUS = ch.gpu_count() if ch.HARNESS_PATH.is_file() and not ch.is_emulation(ch.HARNESS_PATH) else 0
needs_nvcc = pytest.mark.skipif(NVCC is None or os.environ.get("CUDA") == "0",
                                reason="nvcc not on PATH (or CUDA=0): the CUDA libraries are not built here")


@pytest.fixture(params=["gpu", "emulator"])
def backend(request):
    """Selects the harness library for one kernel test."""
    if request.param == "gpu":
        if N_GPUS == 0:
            pytest.skip("no CUDA GPU visible to the harness (or harness not built): the CUDA kernels are "
                        "compiled but cannot run here")
        path = ch.HARNESS_PATH
    else:
        path = ch.EMULATOR_PATH
        if not path.is_file():
            pytest.skip(f"{path} not built (make -C operators cuda-emu)")
    ch.use(path)
    yield request.param
    ch.use(ch.HARNESS_PATH)


# ------------------------------------------------------------------ build checks
@needs_nvcc
def test_cuda_libraries_built_and_export_entry_points():
    assert ch.HARNESS_PATH.is_file(), f"{ch.HARNESS_PATH} missing although nvcc exists (make CUDA=auto builds it)"
    assert ch.CUDA_LIBRARY_PATH.is_file(), f"{ch.CUDA_LIBRARY_PATH} missing although nvcc exists"
    lib = ctypes.CDLL(str(ch.HARNESS_PATH))  # static cudart: loads without a driver
    missing = [name for name in ch.ENTRY_POINTS if not hasattr(lib, name)]
    assert not missing, f"harness lacks entry points {missing}"
    syms = subprocess.run(["nm", "-D", "--defined-only", str(ch.CUDA_LIBRARY_PATH)], capture_output=True,
                          text=True, check=True).stdout
    for name in ("initialize", "_opRegSize", "_opRegGet", "_opCallFCompute"):
        assert f" {name}" in syms, f"{ch.CUDA_LIBRARY_PATH} does not export {name}"
    for path in (ch.CUDA_LIBRARY_PATH, ch.HARNESS_PATH):  # device code is embedded
        sections = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True, text=True,
                                  check=True).stdout
        assert ".nv_fatbin" in sections, f"{path} has no CUDA fatbin section"


def test_cpu_library_has_a_gpu_error_instead_of_kernels():
    """libdcn_ops.so (no CUDA) registers gpu entry points that raise a clear MXNetError."""
    cpu_lib = ch.BUILD_DIR / "libdcn_ops.so"
    if not cpu_lib.is_file():
        pytest.skip(f"{cpu_lib} not built")
    assert b"built without CUDA" in cpu_lib.read_bytes()


@needs_nvcc
def test_cuda_library_loads_in_this_mxnet_and_matches_cpu_library():
    """The GPU-enabled library also serves cpu contexts, identically to the CPU library."""
    code = textwrap.dedent("""
        import mxnet as mx, numpy as np, sys
        mx.library.load(sys.argv[1], verbose=False)
        rng = np.random.RandomState(0)
        x = mx.nd.array(rng.randn(2, 4, 7, 8)); off = mx.nd.array(rng.uniform(-2, 2, (2, 18, 7, 8)))
        w = mx.nd.array(rng.randn(6, 4, 3, 3))
        y = mx.nd.DeformableConvolution(x, off, w, kernel=(3, 3), pad=(1, 1), num_filter=6, no_bias=True)
        np.save(sys.argv[2], y.asnumpy())
    """)
    outs = []
    for i, lib in enumerate((ch.CUDA_LIBRARY_PATH, ch.BUILD_DIR / "libdcn_ops.so")):
        path = os.path.join(os.environ.get("PYTEST_TMPDIR", "/tmp"), f"dcn_cuda_load_{os.getpid()}_{i}.npy")
        proc = subprocess.run([sys.executable, "-c", code, str(lib), path], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(np.load(path))
        os.remove(path)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_harness_without_gpu_reports_instead_of_crashing():
    if N_GPUS:
        pytest.skip("a GPU is present")
    if not ch.HARNESS_PATH.is_file() or ch.is_emulation(ch.HARNESS_PATH):
        pytest.skip(f"real harness not built ({ch.HARNESS_PATH})")
    x = np.zeros((1, 4, 6, 7), np.float32)
    with pytest.raises(ch.CudaHarnessError, match="CUDA error"):
        ch.deform_conv_forward(x, np.zeros((1, 18, 6, 7), np.float32), np.zeros((4, 4, 3, 3), np.float32),
                               pad=(1, 1))


# ------------------------------------------------------------------ kernel checks
CONV_CASES = {
    # name: N, C, H, W, F, kernel, stride, pad, dilate, groups, dgroups
    "basic": (2, 8, 9, 11, 6, (3, 3), (1, 1), (1, 1), (1, 1), 1, 1),
    "strided_dilated_groups": (3, 8, 10, 7, 4, (3, 3), (2, 2), (2, 2), (2, 2), 2, 2),
    "rect_kernel": (1, 12, 8, 9, 6, (3, 2), (1, 2), (1, 0), (1, 2), 3, 3),
    "one_channel_per_dgroup": (5, 4, 5, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, 4),
    "wide_channels": (2, 40, 6, 5, 24, (3, 3), (1, 1), (1, 1), (1, 1), 1, 1),  # > one 16-channel block
    "gemm_large_tiles": (2, 16, 12, 12, 128, (3, 3), (1, 1), (1, 1), (1, 1), 1, 2),  # 128x128 GEMM tiles
}
TOL = {"float64": 1e-10, "float32": 2e-4, "float16": 2e-2}


def conv_arrays(name: str, modulated: bool, bias: bool, seed: int):
    N, C, H, W, F, k, s, p, d, g, dg = CONV_CASES[name]
    Ho = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    Wo = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    rng = np.random.RandomState(seed)
    off = rng.uniform(-3, 3, (N, 2 * dg * k[0] * k[1], Ho, Wo))
    far = rng.rand(*off.shape) < 0.1  # some samples far outside the image
    off[far] = rng.choice([-1, 1], far.sum()) * (max(H, W) + rng.uniform(0, 5, far.sum()))
    arrs = {"data": rng.randn(N, C, H, W), "offset": off}
    if modulated:
        arrs["mask"] = rng.uniform(0, 1, (N, dg * k[0] * k[1], Ho, Wo))
    arrs["weight"] = rng.randn(F, C // g, *k) / np.sqrt(C // g * k[0] * k[1])
    if bias:
        arrs["bias"] = rng.randn(F)
    attrs = dict(kernel=k, stride=s, pad=p, dilate=d, num_filter=F, num_group=g, num_deformable_group=dg,
                 no_bias=not bias)
    return arrs, attrs, (N, F, Ho, Wo)


def cpu_reference(op, arrs: dict, attrs: dict, head: np.ndarray, dtype: str):
    """CPU op in float64 (float64 case) or float32, on the same (possibly fp16-rounded) values."""
    ref_dtype = "float64" if dtype == "float64" else "float32"
    nd = {k: mx.nd.array(v.astype(ref_dtype), dtype=ref_dtype) for k, v in arrs.items()}
    for v in nd.values():
        v.attach_grad()
    with mx.autograd.record():
        y = op(*nd.values(), **attrs)
    y.backward(mx.nd.array(head.astype(ref_dtype), dtype=ref_dtype))
    return y.asnumpy(), {k: v.grad.asnumpy() for k, v in nd.items()}


def assert_rel(got, ref, tol, what):
    got = got.astype(np.float64)
    ref = ref.astype(np.float64)
    scale = max(np.abs(ref).max(), 1e-30)
    err = np.abs(got - ref).max() / scale
    assert np.isfinite(got).all() and err <= tol, f"{what}: max |gpu - cpu| / max|cpu| = {err:.3g} > {tol}"


def run_gpu_conv(arrs, attrs, head, rule, dtype, budget, deterministic):
    kw = dict(stride=attrs["stride"], pad=attrs["pad"], dilate=attrs["dilate"], groups=attrs["num_group"],
              dgroups=attrs["num_deformable_group"], rule=rule, budget_bytes=budget)
    a = {k: v.astype(dtype) for k, v in arrs.items()}
    y = ch.deform_conv_forward(a["data"], a["offset"], a["weight"], a.get("mask"), a.get("bias"), **kw)
    grads = ch.deform_conv_backward(head.astype(dtype), a["data"], a["offset"], a["weight"], a.get("mask"),
                                    "bias" in a, deterministic=deterministic, **kw)
    return y, grads


# the 128-wide GEMM tiles exist for float32/float16 only: no float64 case for them
CONV_DTYPE_CASES = [(name, dtype) for name in sorted(CONV_CASES) for dtype in ("float64", "float32", "float16")
                    if not (name == "gemm_large_tiles" and dtype == "float64")]


@pytest.mark.parametrize("variant", ["dcnv1", "dcnv2", "modulated"])
@pytest.mark.parametrize("name,dtype", CONV_DTYPE_CASES)
def test_deform_conv_matches_cpu(backend, name, variant, dtype):
    modulated = variant == "modulated"
    seed = sorted(CONV_CASES).index(name) * 7 + len(variant)
    arrs, attrs, oshape = conv_arrays(name, modulated, bias=seed % 2 == 0, seed=seed)
    if dtype == "float16":  # both sides see the same fp16 values
        arrs = {k: v.astype(np.float16).astype(np.float64) for k, v in arrs.items()}
    head = np.random.RandomState(seed + 1).randn(*oshape)
    if dtype == "float16":
        head = head.astype(np.float16).astype(np.float64)
    if modulated:
        op, rule = mx.nd.ModulatedDeformableConvolution, "dcnv2"
    else:
        op, rule = mx.nd.DeformableConvolution, variant
        attrs = dict(attrs, border_rule=variant)
    y_ref, g_ref = cpu_reference(op, arrs, attrs, head, dtype)
    tol = TOL[dtype]
    for budget in (0, 3000, 20000):  # default; pixel chunks inside an image; (for some cases) several images per chunk
        y, grads = run_gpu_conv(arrs, attrs, head, rule, dtype, budget, deterministic=False)
        assert_rel(y, y_ref, tol, f"{name}/{variant}/{dtype}/budget={budget} forward")
        for k in g_ref:
            assert_rel(grads[k], g_ref[k], tol, f"{name}/{variant}/{dtype}/budget={budget} d{k}")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["basic", "strided_dilated_groups", "one_channel_per_dgroup"])
def test_deform_conv_deterministic_backward(backend, name, dtype):
    arrs, attrs, oshape = conv_arrays(name, modulated=True, bias=True, seed=11)
    head = np.random.RandomState(12).randn(*oshape)
    runs = [run_gpu_conv(arrs, attrs, head, "dcnv2", dtype, 0, deterministic=True)[1] for _ in range(3)]
    for k in runs[0]:
        for other in runs[1:]:  # bitwise repeatable
            np.testing.assert_array_equal(runs[0][k], other[k], err_msg=f"d{k} differs between deterministic runs")
    atomic = run_gpu_conv(arrs, attrs, head, "dcnv2", dtype, 0, deterministic=False)[1]
    for k in atomic:
        assert_rel(runs[0][k], atomic[k], 1e-5 if dtype == "float32" else 2e-3, f"{name} d{k} det vs atomic")
    chunked = run_gpu_conv(arrs, attrs, head, "dcnv2", dtype, 3000, deterministic=True)[1]
    for k in atomic:
        assert_rel(chunked[k], atomic[k], 1e-5 if dtype == "float32" else 2e-3, f"{name} d{k} det chunked")


PSROI_CASES = {
    # name: N, output_dim, classes, group, pooled, part, spp, H, W, R, no_trans
    "rfcn_like": (2, 4, 2, 3, 3, 3, 4, 14, 17, 9, False),
    "no_trans": (1, 3, 1, 2, 4, 4, 2, 9, 8, 5, True),
    "single_class_spp1": (3, 2, 1, 3, 3, 2, 1, 11, 10, 12, False),
}


def psroi_arrays(name: str, seed: int):
    N, od, classes, G, P, Q, spp, H, W, R, no_trans = PSROI_CASES[name]
    rng = np.random.RandomState(seed)
    scale = 0.25
    img_h, img_w = H / scale, W / scale
    x1 = rng.uniform(-8, img_w, R)
    y1 = rng.uniform(-8, img_h, R)
    rois = np.stack([rng.randint(0, N, R), x1, y1, x1 + rng.uniform(0, img_w / 2, R),
                     y1 + rng.uniform(0, img_h / 2, R)], axis=1)
    arrs = {"data": rng.randn(N, od * G * G, H, W), "rois": rois}
    if not no_trans:
        arrs["trans"] = rng.randn(R, 2 * classes, Q, Q)
    attrs = dict(spatial_scale=scale, output_dim=od, group_size=G, pooled_size=P, part_size=Q,
                 sample_per_part=spp, trans_std=0.1, no_trans=no_trans)
    return arrs, attrs, (R, od, P, P)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("name", sorted(PSROI_CASES))
def test_psroi_matches_cpu(backend, name, deterministic, dtype):
    arrs, attrs, oshape = psroi_arrays(name, seed=sorted(PSROI_CASES).index(name) + 3)
    if dtype == "float16":
        arrs = {k: v.astype(np.float16).astype(np.float64) for k, v in arrs.items()}
    head = np.random.RandomState(5).randn(*oshape)
    if dtype == "float16":
        head = head.astype(np.float16).astype(np.float64)
    y_ref, g_ref = cpu_reference(mx.nd.DeformablePSROIPooling, arrs, attrs, head, dtype)
    a = {k: v.astype(dtype) for k, v in arrs.items()}
    y = ch.psroi_forward(a["data"], a["rois"], a.get("trans"), **attrs)
    tol = TOL[dtype]
    assert_rel(y, y_ref, tol, f"{name}/{dtype} forward")
    if dtype == "float32":  # same operation sequence, no FMA contraction: expected to match exactly
        np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
    grads = ch.psroi_backward(head.astype(dtype), a["data"], a["rois"], a.get("trans"),
                              deterministic=deterministic, **attrs)
    assert_rel(grads["data"], g_ref["data"], tol, f"{name}/{dtype} ddata")
    if "trans" in grads:
        assert_rel(grads["trans"], g_ref["trans"], tol, f"{name}/{dtype} dtrans")
    if deterministic:
        again = ch.psroi_backward(head.astype(dtype), a["data"], a["rois"], a.get("trans"), deterministic=True,
                                  **attrs)
        for k in grads:
            np.testing.assert_array_equal(grads[k], again[k])
