#!/usr/bin/env bash
# Faster R-CNN 2fc end-to-end on PASCAL VOC 07+12 -> 07 test or COCO (paper Tables 3/5). Needs ./data/VOCdevkit or
# ./data/coco and ./model/pretrained_model/resnet_v1_101-0000.params.
# Usage: bash experiments/faster_rcnn/voc_coco_train_test.sh [voc|coco] [dcn|plain] [--gpus 0,1,2,3] [--set ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-voc}; VARIANT=${2:-dcn}; shift 2 || shift $# || true
case "$DATA" in
  voc)  BASE=experiments/faster_rcnn/cfgs/resnet_v1_101_voc0712_rcnn ;;
  coco) BASE=experiments/faster_rcnn/cfgs/resnet_v1_101_coco_trainval_rcnn ;;
  *) echo "unknown dataset $DATA (voc|coco)" >&2; exit 2 ;;
esac
case "$VARIANT" in
  dcn)   CFG=${BASE}_dcn_end2end.yaml ;;
  plain) CFG=${BASE}_end2end.yaml ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
bash experiments/fpn/train_test.sh "$CFG" "$@"
