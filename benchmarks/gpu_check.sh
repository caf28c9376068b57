#!/usr/bin/env bash
# The device check in one command, for a CUDA machine with torch, torchvision and
# numpy but no MXNet (see benchmarks/gpu_check.py): correctness of every CUDA
# kernel against references that run there, then the GPU benchmark; writes
# OUT_DIR/report.json and OUT_DIR/report.md. Ends within 6 minutes.
#   bash benchmarks/gpu_check.sh OUT_DIR [gpu_check options]
# Carry operators/build/libdcn_cuda_harness.so (built by init.sh where nvcc
# exists); if it is absent or does not load there, it is rebuilt with that
# machine's nvcc (`make -C operators harness`, no MXNet needed, ~2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [options]}
shift
PY=${PYTHON:-python3}
HARNESS=operators/build/libdcn_cuda_harness.so
case " $* " in *" --emulator "*) EMULATOR=1 ;; *) EMULATOR=0 ;; esac
if [ "$EMULATOR" = 0 ] && ! "$PY" -c "import ctypes, sys; ctypes.CDLL(sys.argv[1]).dcn_h_gemm_backend" "$HARNESS" 2>/dev/null; then
  echo "gpu_check.sh: $HARNESS missing or not loadable here: building it with $(command -v nvcc || echo 'no nvcc')"
  make -C operators harness CUDA=1 PYTHON="$PY" -j"$(nproc)"
fi
mkdir -p "$OUT"
# 330 s for the Python part: the correctness checks first, no benchmark case starts after --budget-s.
timeout 330 "$PY" -m benchmarks.gpu_check --out "$OUT" --budget-s 270 "$@" 2>&1 | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
