#!/usr/bin/env bash
# R-FCN on PASCAL VOC 07+12 -> 07 test (paper Tables 1/3). Needs ./data/VOCdevkit and the
# ResNet-v1-101 ImageNet model at ./model/pretrained_model/resnet_v1_101-0000.params.
# Usage: bash experiments/rfcn/voc_train_test.sh [dcn|plain] [extra --set args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
VARIANT=${1:-dcn}; shift || true
case "$VARIANT" in
  dcn)   CFG=experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml ;;
  plain) CFG=experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_end2end_ohem.yaml ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
$PY -m rfcn.train --cfg $CFG "$@"
OUT=$($PY -c "
import sys; from dcn.config import load_config
a = sys.argv[2:]; sets = [a[i + 1] for i in range(len(a) - 1) if a[i] == '--set']
print(load_config(sys.argv[1], sets).output_path)" $CFG "$@")
PARAMS=$(ls $OUT/*.params | sort | tail -1)
$PY -m rfcn.test --cfg $CFG "$@" --params "$PARAMS"
