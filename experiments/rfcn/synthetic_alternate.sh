#!/usr/bin/env bash
# Alternate (4-step) training of the deformable R-FCN on the built-in synthetic data, CPU-sized: every stage
# (rpn1, rfcn1, rpn2, rfcn2) 2 epochs of the flipped 400 training images, lr / 10 after 1.5; 300 proposals
# per image (the end-to-end training's RPN_POST_NMS_TOP_N); then the combined model is tested end-to-end and
# on rpn2's proposals. Output: ./output/synthetic/rfcn_alternate
# Usage: bash experiments/rfcn/synthetic_alternate.sh [extra --set args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
$PY -m rfcn.alternate --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml --set TRAIN.end_epoch=2 \
  --set "TRAIN.lr_step=[1.5]" --set TEST.test_epoch=2 --set TEST.PROPOSAL_PRE_NMS_TOP_N=6000 \
  --set TEST.PROPOSAL_POST_NMS_TOP_N=300 --set output_path=./output/synthetic/rfcn_alternate "$@"
