#!/usr/bin/env bash
# Deformable FPN (or its plain baseline) on the built-in synthetic dataset, CPU-sized (ResNet-18 / 4, 256 px).
# Usage: bash experiments/fpn/synthetic_train_test.sh [dcn|plain|dcn_softnms_ms] [extra --set args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
VARIANT=${1:-dcn}; shift || true
case "$VARIANT" in
  dcn)            SETS=() ;;
  plain)          SETS=(--set network.num_deformable_layers=0 --set network.deformable_pyramid=false
                        --set network.deformable_psroi=false --set symbol=resnet_v1_18_fpn_rcnn) ;;
  dcn_softnms_ms) SETS=(--set TEST.USE_SOFTNMS=true --set "TEST_SCALES=[[224,224],[256,256],[320,320]]") ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
SETS+=(--set output_path=./output/synthetic/fpn_${VARIANT} "$@")
DEMO_IMAGES="$(ls ./data/synthetic/JPEGImages/*.jpg 2>/dev/null | head -4 | tr '\n' ' ')" \
  bash experiments/fpn/train_test.sh experiments/fpn/cfgs/synthetic_fpn_dcn.yaml "${SETS[@]}"
