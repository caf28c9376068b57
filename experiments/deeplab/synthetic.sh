#!/usr/bin/env bash
# DeepLab on the built-in synthetic shapes (CPU-sized ResNet-18/4, 256 px): train, then test (mIoU).
#   experiments/deeplab/synthetic.sh [dcn|base] [--set KEY=VALUE ...] [--resume]
# dcn = 3 deformable layers (default), base = none (output in ./output/synthetic/deeplab).
set -euo pipefail
cd "$(dirname "$0")/../.."
cfg=experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml
extra=()
case "${1:-}" in
  dcn) shift ;;
  base) shift; extra=(--set network.num_deformable_layers=0 --set output_path=./output/synthetic/deeplab) ;;
esac
py=${PYTHON:-.venv/bin/python}
"$py" -m deeplab.train --cfg "$cfg" "${extra[@]}" "$@"
"$py" -m deeplab.test --cfg "$cfg" "${extra[@]}" "$@"
