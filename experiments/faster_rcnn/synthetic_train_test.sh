#!/usr/bin/env bash
# Faster R-CNN 2fc and its Table 3 ablations, end-to-end on the built-in synthetic dataset, CPU-sized.
# Usage: bash experiments/faster_rcnn/synthetic_train_test.sh [dcn|plain|droi_only|dconv_only] [extra --set args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
VARIANT=${1:-dcn}; shift || true
case "$VARIANT" in
  dcn)        SETS=() ;;
  plain)      SETS=(--set network.num_deformable_layers=0 --set network.deformable_psroi=false
                    --set symbol=resnet_v1_18_rcnn) ;;
  droi_only)  SETS=(--set network.num_deformable_layers=0) ;;
  dconv_only) SETS=(--set network.deformable_psroi=false) ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
SETS+=(--set output_path=./output/synthetic/rcnn_${VARIANT} "$@")
DEMO_IMAGES="$(ls ./data/synthetic/JPEGImages/*.jpg 2>/dev/null | head -4 | tr '\n' ' ')" \
  bash experiments/fpn/train_test.sh experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml "${SETS[@]}"
