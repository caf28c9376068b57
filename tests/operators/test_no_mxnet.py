"""The CUDA harness and the GPU benchmark import and run without MXNet (issue 21: the
GPU machine has torch and numpy 2 but no MXNet). MXNet is made unimportable in a
subprocess; the harness runs the kernels on the CPU emulation library."""
import subprocess
import sys
from pathlib import Path

import pytest

from operators import cuda_harness as ch

ROOT = Path(__file__).resolve().parents[2]
BLOCK_MXNET = "import sys; sys.modules['mxnet'] = None  # any `import mxnet` now raises ImportError\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_MXNET + code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_mxnet_is_really_blocked():
    proc = _run("import mxnet")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


@pytest.mark.skipif(not ch.EMULATOR_PATH.is_file(), reason="CUDA emulation library not built")
def test_cuda_harness_runs_without_mxnet():
    proc = _run(
        "import numpy as np\n"
        "from operators import cuda_harness as ch\n"
        "ch.use(ch.EMULATOR_PATH)\n"
        "rng = np.random.RandomState(0)\n"
        "x = rng.randn(1, 4, 5, 6).astype('f4'); off = rng.uniform(-1, 1, (1, 18, 5, 6)).astype('f4')\n"
        "w = rng.randn(3, 4, 3, 3).astype('f4')\n"
        "y = ch.deform_conv_forward(x, off, w, pad=(1, 1))\n"
        "assert y.shape == (1, 3, 5, 6) and np.abs(y).max() > 0.1, y\n"
        "assert 'mxnet' not in sys.modules or sys.modules['mxnet'] is None\n"
        "print('ok')\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_gpu_benchmark_imports_without_mxnet():
    proc = _run("import benchmarks.bench_cuda, benchmarks.cases, operators\n"
                "try:\n"
                "    operators.load\n"
                "except ImportError as err:\n"
                "    print('lazy:', err)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("lazy:")  # operators' MXNet part is imported only when used
