#!/usr/bin/env bash
# The paper's ablations on the built-in synthetic data (Tables 1-4: deformable layers, atrous vs deformable,
# effective dilation, complexity/runtime), one command, the paper's VOC protocol, mean ± std over seeds.
# Output: output/paper (reruns reuse what is done; an interrupted run resumes).
# Usage: bash experiments/paper.sh [--tables 1,2,3,4] [--tasks deeplab,rpn,faster,rfcn] [--seeds N] [--out DIR]
#                                  [--quick | --smoke] [--jobs N] [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import operators, sys; sys.exit(0 if operators.LIBRARY_PATH.is_file() else 1)" 2>/dev/null; then
  bash init.sh
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec .venv/bin/python -m tools.paper "$@"
