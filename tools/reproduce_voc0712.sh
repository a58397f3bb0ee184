#!/usr/bin/env bash
# Reproduce Faster R-CNN R50-FPN 1x on VOC 2007+2012 end to end on a GPU machine:
# download VOC, check it, train on GPUS GPUs, test the last checkpoint.
#
# Usage: [GPUS=8] [PYTHON=python] tools/reproduce_voc0712.sh [CONFIG] [WORK_DIR]
#   CONFIG    default configs/faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712.py
#   WORK_DIR  default work_dirs/<config name>
# With GPUS other than 8 the learning rate is scaled by --auto-scale-lr
# (base: 8 GPUs x 2 images = 16). Set MMEXT_VOC_MIRROR to download from a mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${1:-configs/faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712.py}
NAME=$(basename "$CONFIG" .py)
WORK_DIR=${2:-work_dirs/$NAME}
GPUS=${GPUS:-8}
PYTHON=${PYTHON:-python}
export PYTHON

"$PYTHON" tools/misc/download_voc.py --data-root data/VOCdevkit
"$PYTHON" tools/misc/check_dataset.py "$CONFIG"

SCALE=()
if [ "$GPUS" -ne 8 ]; then
    SCALE=(--auto-scale-lr)
fi
if [ "$GPUS" -gt 1 ]; then
    bash tools/dist_train.sh "$CONFIG" "$GPUS" --work-dir "$WORK_DIR" "${SCALE[@]}"
else
    "$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "${SCALE[@]}"
fi

# the checkpoint hook records the newest checkpoint in last_checkpoint
CKPT=$(cat "$WORK_DIR/last_checkpoint")
if [ "$GPUS" -gt 1 ]; then
    bash tools/dist_test.sh "$CONFIG" "$CKPT" "$GPUS" --work-dir "$WORK_DIR" \
        --out "$WORK_DIR/results.pkl"
else
    "$PYTHON" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" \
        --out "$WORK_DIR/results.pkl"
fi
