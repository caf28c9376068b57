#!/usr/bin/env bash
# Deformable FPN (OHEM 512, 6-scale test with Soft-NMS) or its plain baseline on COCO trainval35k -> minival.
# Needs ./data/coco and ./model/pretrained_model/resnet_v1_101-0000.params.
# Usage: bash experiments/fpn/coco_train_test.sh [dcn|plain] [--gpus 0,...,7] [extra --set args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
VARIANT=${1:-dcn}; shift || true
case "$VARIANT" in
  dcn)   CFG=experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_dcn_end2end_ohem.yaml ;;
  plain) CFG=experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_end2end_ohem.yaml ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
bash experiments/fpn/train_test.sh "$CFG" "$@"
