#!/usr/bin/env bash
# The paper's VOC ablation protocol: one RPN's proposals, fixed, for every head variant.
#   1. train a plain Faster R-CNN end-to-end (its RPN makes the proposals; skipped when RPN_PARAMS is set),
#   2. python -m fpn.proposals: <proposal_dir>/<image_set>_rpn.npz for the train and test splits,
#   3. train the variant's head on them (RPN frozen) and test with TEST.HAS_RPN: false.
# Usage: bash experiments/faster_rcnn/fixed_proposals.sh [synthetic|voc] [dcn|plain|droi_only|dconv_only] [--set ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
DATA=${1:-synthetic}; VARIANT=${2:-dcn}; shift 2 || shift $# || true
case "$DATA" in
  synthetic) CFG=experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml; PLAIN_SYMBOL=resnet_v1_18_rcnn ;;
  voc)       CFG=experiments/faster_rcnn/cfgs/resnet_v1_101_voc0712_rcnn_dcn_end2end.yaml
             PLAIN_SYMBOL=resnet_v1_101_rcnn ;;
  *) echo "unknown dataset $DATA (synthetic|voc)" >&2; exit 2 ;;
esac
case "$VARIANT" in
  dcn)        SETS=() ;;
  plain)      SETS=(--set network.num_deformable_layers=0 --set network.deformable_psroi=false
                    --set symbol=$PLAIN_SYMBOL) ;;
  droi_only)  SETS=(--set network.num_deformable_layers=0) ;;
  dconv_only) SETS=(--set network.deformable_psroi=false) ;;
  *) echo "unknown variant $VARIANT" >&2; exit 2 ;;
esac
EXTRA_SETS=()  # the proposal step takes --set only (the device options are training's)
ARGS=("$@")
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  if [[ ${ARGS[$i]} == --set ]]; then EXTRA_SETS+=(--set "${ARGS[$((i + 1))]}"); fi
done
ROOT=${ROOT:-./output/fixed_proposals/$DATA}
PROPS=(--set dataset.proposal_dir=$ROOT/proposals)
PLAIN=(--set network.num_deformable_layers=0 --set network.deformable_psroi=false --set symbol=$PLAIN_SYMBOL)
if [[ -z ${RPN_PARAMS:-} ]]; then
  $PY -m fpn.train --cfg $CFG "${PLAIN[@]}" --set output_path=$ROOT/rpn "$@"
  RPN_PARAMS=$(ls $ROOT/rpn/*.params | sort | tail -1)
fi
if [[ ! -f $ROOT/proposals/.done ]]; then
  $PY -m fpn.proposals --cfg $CFG "${PLAIN[@]}" "${PROPS[@]}" "${EXTRA_SETS[@]}" --params "$RPN_PARAMS" \
    --image-set both
  touch $ROOT/proposals/.done
fi
bash experiments/fpn/train_test.sh $CFG "${SETS[@]}" "${PROPS[@]}" --set TEST.HAS_RPN=false \
  --set output_path=$ROOT/$VARIANT "$@"
