#!/usr/bin/env bash
# Set up (init.sh: venv, pinned stack, operators; fast when nothing changed) and run the test suite.
# The README's test command and exactly what CI (.ci/run) runs. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash init.sh
bash tests/setup_gpucheck_venv.sh  # best effort: the venv of the GPU-check dry run (tests/benchmarks/test_gpu_check.py)
exec .venv/bin/python -m pytest -q "$@"
