#!/usr/bin/env bash
# Best effort: .venv-gpucheck, a venv like the GPU machine's (numpy 2, CPU torch, no MXNet),
# where tests/benchmarks/test_gpu_check.py dry-runs benchmarks/gpu_check.py on the emulated kernels.
# Re-running is fast (a stamp); a failed install leaves no venv and the test says why it skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-gpucheck
PYTHON=${PYTHON:-python3.11}
TORCH=${GPUCHECK_TORCH:-torch==2.13.0}
stamp="$VENV/.dcn-gpucheck-$(echo "$TORCH" | tr -c 'a-zA-Z0-9.' _)"
[ -f "$stamp" ] && exit 0
echo "==> tests/setup_gpucheck_venv.sh: $VENV (numpy 2, $TORCH, no MXNet) for the GPU-check dry run"
rm -rf "$VENV.tmp"
if "$PYTHON" -m venv "$VENV.tmp" && "$VENV.tmp/bin/python" -m pip install -q "numpy>=2" "$TORCH" \
    && "$VENV.tmp/bin/python" -c "import numpy, torch; assert int(numpy.__version__.split('.')[0]) >= 2"; then
  rm -rf "$VENV" && mv "$VENV.tmp" "$VENV" && touch "$stamp"
else
  rm -rf "$VENV.tmp"
  echo "tests/setup_gpucheck_venv.sh: could not install numpy 2 + $TORCH; tests/benchmarks/test_gpu_check.py will skip" >&2
fi
exit 0
