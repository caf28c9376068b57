#!/usr/bin/env bash
# DeepLab, ResNet-v1-101, VOC 2012 train_seg (SBD-augmented) -> val_seg, shorter side 360: train, then test (mIoU).
#   experiments/deeplab/voc12.sh [dcn|base] [--set KEY=VALUE ...] [--resume]
# dcn = res5a/b/c deformable (default), base = plain atrous conv5. Extra arguments go to both steps.
set -euo pipefail
cd "$(dirname "$0")/../.."
variant=dcn
case "${1:-}" in dcn|base) variant=$1; shift ;; esac
cfg=experiments/deeplab/cfgs/deeplab_resnet_v1_101_voc12_segmentation_${variant}.yaml
py=${PYTHON:-.venv/bin/python}
"$py" -m deeplab.train --cfg "$cfg" "$@"
"$py" -m deeplab.test --cfg "$cfg" "$@"
