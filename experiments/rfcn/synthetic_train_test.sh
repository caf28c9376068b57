#!/usr/bin/env bash
# Deformable R-FCN (and its ablations) on the built-in synthetic dataset, CPU-sized.
# Usage: bash experiments/rfcn/synthetic_train_test.sh [dcn|plain|dpsroi_only|class_aware_rpn] [extra --set args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
CFG=experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml
VARIANT=${1:-dcn}; shift || true
case "$VARIANT" in
  dcn)             SETS=() ;;
  plain)           SETS=(--set network.num_deformable_layers=0 --set network.deformable_psroi=false) ;;
  dpsroi_only)     SETS=(--set network.num_deformable_layers=0) ;;
  class_aware_rpn) SETS=(--set symbol=resnet_v1_18_class_aware_rpn_dcn) ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
SETS+=(--set output_path=./output/synthetic/rfcn_${VARIANT} "$@")
$PY -m rfcn.train --cfg $CFG "${SETS[@]}"
# the output folder as training saw it (a later --set output_path=... wins)
OUT=$($PY -c "
import sys; from dcn.config import load_config
a = sys.argv[2:]; sets = [a[i + 1] for i in range(len(a) - 1) if a[i] == '--set']
print(load_config(sys.argv[1], sets).output_path)" $CFG "${SETS[@]}")
PARAMS=$(ls $OUT/*.params | sort | tail -1)
$PY -m rfcn.test --cfg $CFG "${SETS[@]}" --params "$PARAMS"
$PY -m rfcn.demo --params "$PARAMS" --out $OUT/demo --images $(ls ./data/synthetic/JPEGImages/*.jpg | head -4)
