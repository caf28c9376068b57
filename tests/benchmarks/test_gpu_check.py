"""The device check (benchmarks/gpu_check.sh) dry-run where the GPU machine's conditions can be had
on a CPU: a venv with numpy 2 and torch but no MXNet (.venv-gpucheck, made by
tests/setup_gpucheck_venv.sh from tests/run.sh), the emulated CUDA kernels instead of the GPU. An
import or path error, a reference that disagrees with the kernels, or a broken report shows here
before any device time is spent."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / ".venv-gpucheck" / "bin" / "python"
EMULATOR = ROOT / "operators" / "build" / "libdcn_cuda_emu.so"
CUBLAS_EMULATOR = ROOT / "operators" / "build" / "libdcn_cublas_emu.so"


@pytest.mark.skipif(not VENV_PY.is_file(), reason=".venv-gpucheck missing: tests/setup_gpucheck_venv.sh could not "
                    "install numpy 2 + torch (run it to see why)")
@pytest.mark.skipif(not (EMULATOR.is_file() and CUBLAS_EMULATOR.is_file()), reason="emulator libraries not built")
def test_gpu_check_dry_run_without_mxnet(tmp_path):
    out = tmp_path / "report"
    # The same shell script as on the GPU machine, with that venv's python; a sitecustomize makes MXNet
    # unimportable even where that venv could see one.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['mxnet'] = None\n")
    # The cuBLAS stand-in: the check's cuBLAS branch (and its rerun on the built-in GEMM) runs too.
    env = dict(os.environ, PYTHON=str(VENV_PY), PYTHONPATH=f"{shim}{os.pathsep}{ROOT}", OMP_NUM_THREADS="2",
               DCN_CUBLAS_LIBRARY=str(CUBLAS_EMULATOR))
    env.pop("DCN_CUBLAS", None)
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(out), "--emulator"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    report = json.loads((out / "report.json").read_text())
    env_info = report["environment"]
    assert env_info["emulation"] is True and env_info["mxnet_imported"] is False, env_info
    assert int(env_info["numpy"].split(".")[0]) >= 2, env_info
    assert env_info["gemm"].startswith("cuBLAS"), env_info
    rows = report["correctness"]
    kinds = {(r["kind"], r["check"].split(" (")[0]) for r in rows}
    for rule in ("dcnv1", "dcnv2", "modulated"):
        assert ("deform_conv", f"{rule} forward") in kinds and ("deform_conv", f"{rule} backward") in kinds
    assert ("psroi", "forward") in kinds and ("psroi", "backward") in kinds
    assert {r["dtype"] for r in rows} == {"float64", "float32", "float16"}
    assert any(r["case"].endswith("[built-in GEMM]") for r in rows), "no rerun on the built-in GEMM"
    assert len(rows) >= 100 and all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
    assert all(r["note"] == "bitwise repeatable" for r in rows if "deterministic" in r["check"])
    md = (out / "report.md").read_text()
    assert f"Correctness: {len(rows)} / {len(rows)} passed" in md
    bench = report["benchmark"]
    if env_info["torchvision"]:  # the full peer set: the benchmark code path ran on tiny shapes
        ops = {r["op"] for r in bench["rows"]["float32"]}
        assert {"deformable (ours)", "deformable (torchvision)", "dense conv (cuDNN)"} <= ops, ops
    else:
        assert bench["skipped"] and "torchvision" in bench["skipped"][0]
