"""The deformable convolution's cuBLAS GEMM path (operators/src/common/cublas.cu) and its fallback.

No GPU here: the emulated kernels (libdcn_cuda_emu.so) take the cuBLAS path when
DCN_CUBLAS_LIBRARY names the CPU stand-in libdcn_cublas_emu.so, which computes
cuBLAS's column-major strided-batched GEMM; so the row-/column-major mapping,
the two batch strides (images x conv groups), the bias epilogue and the mixed
fp16/fp32 types are checked against the built-in GEMM kernel (DCN_CUBLAS=0).
cuBLAS is looked up once per process, so each check runs in a subprocess.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from operators import cuda_harness as ch

ROOT = str(Path(__file__).resolve().parents[2])

needs_emulator = pytest.mark.skipif(not (ch.EMULATOR_PATH.is_file() and ch.CUBLAS_EMULATOR_PATH.is_file()),
                                    reason="emulator libraries not built (make -C operators cuda-emu)")

COMPARE = textwrap.dedent("""
    import ctypes, os, sys
    import numpy as np
    from operators import cuda_harness as ch
    ch.use(ch.EMULATOR_PATH)
    fake = ctypes.CDLL(str(ch.CUBLAS_EMULATOR_PATH))
    fake.dcn_cublas_emulation.restype = ctypes.c_long

    def run(dt, seed, N, C, H, W, F, groups, dg, bias, mask, budget, stride):
        rng = np.random.RandomState(seed)
        x = rng.randn(N, C, H, W).astype(dt)
        Ho, Wo = (H - 1) // stride + 1, (W - 1) // stride + 1
        off = (rng.rand(N, 2 * dg * 9, Ho, Wo) * 4 - 2).astype(dt)
        w = rng.randn(F, C // groups, 3, 3).astype(dt)
        b = rng.randn(F).astype(dt) if bias else None
        m = rng.rand(N, dg * 9, Ho, Wo).astype(dt) if mask else None
        kw = dict(pad=(1, 1), stride=(stride, stride), groups=groups, dgroups=dg,
                  rule="dcnv2" if mask else "dcnv1", budget_bytes=budget)
        y = ch.deform_conv_forward(x, off, w, m, b, **kw)
        g = ch.deform_conv_backward(rng.randn(*y.shape).astype(dt), x, off, w, m, with_bias=bias, **kw)
        return [y] + [g[k] for k in sorted(g)]

    cases = [  # N, C, H, W, F, groups, dgroups, bias, mask, column budget (bytes; small: chunks), stride
        (3, 8, 6, 7, 6, 2, 2, True, True, 0, 1),      # images x groups: one call per image
        (2, 8, 6, 7, 6, 1, 1, False, False, 0, 1),    # images only: one strided call
        (1, 12, 5, 9, 9, 3, 1, True, False, 0, 2),    # groups only
        (3, 8, 6, 7, 6, 2, 2, True, True, 3000, 1),   # chunked pixels
    ]
    tol = {"float32": 2e-6, "float64": 1e-13, "float16": 2e-3}
    worst = {}
    for dt in (np.float32, np.float64, np.float16):
        for i, c in enumerate(cases):
            before = fake.dcn_cublas_emulation()
            os.environ["DCN_CUBLAS"] = "1"
            a = run(dt, i, *c)
            used = fake.dcn_cublas_emulation() - before
            assert used > 0, f"cuBLAS path not taken for {c}: {ch.gemm_backend()}"
            os.environ["DCN_CUBLAS"] = "0"
            b = run(dt, i, *c)
            assert fake.dcn_cublas_emulation() - before == used, "DCN_CUBLAS=0 still called cuBLAS"
            for p, q in zip(a, b):
                assert p.shape == q.shape and np.isfinite(p).all()
                err = float(np.abs(p.astype(np.float64) - q).max() / (np.abs(q.astype(np.float64)).max() + 1e-30))
                name = np.dtype(dt).name
                worst[name] = max(worst.get(name, 0.0), err)
                assert err < tol[name], f"{name} {c}: cuBLAS path differs from the built-in GEMM by {err:.2e} (rel)"
    os.environ.pop("DCN_CUBLAS")
    print("backend:", ch.gemm_backend())
    print("worst:", worst)
""")


def _run(code: str, env_extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DCN_CUBLAS", "DCN_CUBLAS_LIBRARY")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@needs_emulator
def test_emulated_cublas_path_matches_builtin_gemm():
    r = _run(COMPARE, {"DCN_CUBLAS_LIBRARY": str(ch.CUBLAS_EMULATOR_PATH)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"backend: cuBLAS ({ch.CUBLAS_EMULATOR_PATH})" in r.stdout, r.stdout


@needs_emulator
def test_missing_cublas_falls_back_with_a_notice():
    code = textwrap.dedent("""
        import numpy as np
        from operators import cuda_harness as ch
        ch.use(ch.EMULATOR_PATH)
        x = np.ones((1, 2, 4, 4), np.float32); off = np.full((1, 18, 4, 4), 0.25, np.float32)
        y = ch.deform_conv_forward(x, off, np.ones((3, 2, 3, 3), np.float32), pad=(1, 1))
        assert np.isfinite(y).all() and y.max() > 0
        print("backend:", ch.gemm_backend())
    """)
    r = _run(code, {"DCN_CUBLAS_LIBRARY": "/nonexistent/libcublas.so.13"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "backend: built-in GEMM (no cuBLAS found: tried /nonexistent/libcublas.so.13" in r.stdout, r.stdout
    assert "cuBLAS not loaded" in r.stderr and "DCN_CUBLAS_LIBRARY" in r.stderr, r.stderr


@needs_emulator
def test_emulator_refuses_a_real_cublas():
    """Host memory stands for device memory in the emulation: any library but the stand-in is refused."""
    code = textwrap.dedent("""
        from operators import cuda_harness as ch
        ch.use(ch.EMULATOR_PATH)
        print("backend:", ch.gemm_backend())
    """)
    r = _run(code, {"DCN_CUBLAS_LIBRARY": str(ch.EMULATOR_PATH)})  # a loadable library that is not the stand-in
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is not the CPU stand-in" in r.stdout, r.stdout
    r = _run(code, {})
    assert "backend: built-in GEMM (CUDA emulation" in r.stdout, r.stdout


@pytest.mark.skipif(not ch.HARNESS_PATH.is_file() or ch.gpu_count() > 0,
                    reason="needs the nvcc-built harness on a machine without a GPU")
def test_real_harness_reports_its_gemm_without_a_gpu():
    """The nvcc build looks cuBLAS up by soname; where none is found it says so and keeps its own kernel."""
    code = "from operators import cuda_harness as ch; print('backend:', ch.gemm_backend())"
    r = _run(code, {"DCN_CUBLAS_LIBRARY": "/nonexistent/libcublas.so.12"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "backend: built-in GEMM (no cuBLAS found: tried /nonexistent/libcublas.so.12" in r.stdout, r.stdout
