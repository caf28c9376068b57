#!/usr/bin/env bash
# Sets up this repository on a fresh machine: .venv (Python 3.11), the pinned
# stack, the repo itself (editable) and the operator library.
#   bash init.sh                     # CPU wheel (mxnet==1.9.1)
#   MXNET_VARIANT=cu112 bash init.sh # CUDA 11.2 wheel (mxnet-cu112==1.9.1)
# Re-running is fast: pip runs only when pyproject.toml or the variant
# changed, make rebuilds only stale objects.
set -euo pipefail
cd "$(dirname "$0")"

step() { STEP="$1"; echo "==> init.sh: $1"; }
trap 'echo "init.sh: FAILED at step: ${STEP:-start}" >&2' ERR

PYTHON=${PYTHON:-python3.11}
VARIANT=${MXNET_VARIANT:-cpu}
case "$VARIANT" in
  cpu) MXNET_PKG="mxnet==1.9.1" ;;
  cu*) MXNET_PKG="mxnet-${VARIANT}==1.9.1" ;;
  *) echo "init.sh: MXNET_VARIANT must be cpu or cuNNN (e.g. cu112), got '$VARIANT'" >&2; exit 1 ;;
esac

step "check toolchain"
command -v "$PYTHON" >/dev/null || { echo "init.sh: $PYTHON not found (Python 3.11 is required; set PYTHON=...)" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "init.sh: $PYTHON is $("$PYTHON" --version 2>&1), Python 3.11 is required" >&2; exit 1; }
command -v "${CXX:-g++}" >/dev/null || { echo "init.sh: ${CXX:-g++} not found (a C++17 compiler is required to build the operators)" >&2; exit 1; }
command -v make >/dev/null || { echo "init.sh: make not found" >&2; exit 1; }

step "create .venv"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PY=$PWD/.venv/bin/python

step "install pinned packages ($MXNET_PKG)"
stamp=".venv/.dcn-deps-$VARIANT-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$PY" -m pip install -q --upgrade "pip<25" setuptools wheel
  "$PY" -m pip install -q "numpy==1.23.5" "$MXNET_PKG"
  # compat mode: a .pth with the repo root, so packages added later import too
  "$PY" -m pip install -q -e ".[test,bench]" "numpy==1.23.5" --config-settings editable_mode=compat
  # gluoncv pulls opencv-python (a GUI build that wants NumPy 2); keep only the
  # headless <4.9 build, reinstalled because both share the cv2 folder.
  if "$PY" -m pip show -q opencv-python >/dev/null 2>&1; then
    "$PY" -m pip uninstall -q -y opencv-python
    "$PY" -m pip install -q --force-reinstall --no-deps "opencv-python-headless>=4.5,<4.9"
  fi
  "$PY" -c "import mxnet, numpy, cv2, gluoncv, pycocotools; assert numpy.__version__ == '1.23.5'"
  rm -f .venv/.dcn-deps-*
  touch "$stamp"
fi

# With nvcc on PATH the CUDA kernels are compiled too (operators/Makefile,
# CUDA=auto): a CUDA compile error fails here. CUDA=0 skips them.
step "build operator library$(command -v nvcc >/dev/null 2>&1 && [ "${CUDA:-auto}" != 0 ] && echo ' + CUDA kernels (nvcc found)')"
make -C operators PYTHON="$PY" -j"$(nproc)"

step "check the library loads"
"$PY" -c "import operators; operators.load(); import mxnet as mx; assert hasattr(mx.nd, 'DeformableConvolution')"
if [ -f operators/build/libdcn_ops_cuda.so ]; then  # loads in any wheel; runs kernels only with a GPU
  "$PY" -c "import mxnet as mx; mx.library.load('$PWD/operators/build/libdcn_ops_cuda.so', verbose=False)"
fi
echo "init.sh: done. Activate with: source .venv/bin/activate"
