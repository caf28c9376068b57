#!/usr/bin/env bash
# Train a Faster R-CNN / FPN config, then test its last checkpoint (and draw a few demo images when DEMO_IMAGES is
# set). The other experiments/{fpn,faster_rcnn}/*.sh call this.
# Usage: bash experiments/fpn/train_test.sh CFG [--set KEY=VALUE ...] [--gpus 0,1,2,3]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
CFG=$1; shift
SETS=("$@")
$PY -m fpn.train --cfg "$CFG" "${SETS[@]}"
TEST_SETS=()  # the test takes --set only (the device options are training's)
for ((i = 0; i < ${#SETS[@]}; i++)); do
  if [[ ${SETS[$i]} == --set ]]; then TEST_SETS+=(--set "${SETS[$((i + 1))]}"); fi
done
OUT=$($PY -c "
import sys; from dcn.config import load_config
a = sys.argv[2:]; sets = [a[i + 1] for i in range(len(a) - 1) if a[i] == '--set']
print(load_config(sys.argv[1], sets).output_path)" "$CFG" "${TEST_SETS[@]}")
PARAMS=$(ls "$OUT"/*.params | sort | tail -1)
$PY -m fpn.test --cfg "$CFG" "${TEST_SETS[@]}" --params "$PARAMS"
if [[ -n ${DEMO_IMAGES:-} ]]; then
  $PY -m fpn.demo --params "$PARAMS" --out "$OUT/demo" --images $DEMO_IMAGES
fi
