#!/usr/bin/env bash
# The main job on a fresh machine: R-FCN plain / atrous / deformable on the synthetic dataset (paper
# Tables 2-4, figures 6-7), on the CPU, no download. Output: output/quickstart (reruns reuse what is done).
# Usage: bash experiments/quickstart.sh [--smoke] [--out DIR] [--redo-analysis]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import operators, sys; sys.exit(0 if operators.LIBRARY_PATH.is_file() else 1)" 2>/dev/null; then
  bash init.sh
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec .venv/bin/python -m tools.quickstart "$@"
