#!/usr/bin/env bash
# DeepLab, ResNet-v1-101, Cityscapes train -> val, 1024x2048 with random 768x1024 crops: train, then test (mIoU).
#   experiments/deeplab/cityscapes.sh [dcn|base] [--set KEY=VALUE ...] [--resume]
# dcn = res5a/b/c deformable (default), base = plain atrous conv5. Extra arguments go to both steps.
set -euo pipefail
cd "$(dirname "$0")/../.."
variant=dcn
case "${1:-}" in dcn|base) variant=$1; shift ;; esac
cfg=experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_${variant}.yaml
py=${PYTHON:-.venv/bin/python}
"$py" -m deeplab.train --cfg "$cfg" "$@"
"$py" -m deeplab.test --cfg "$cfg" "$@"
