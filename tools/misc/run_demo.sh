#!/usr/bin/env bash
# The main job: train the demo Faster R-CNN on the shipped tiny VOC data, then
# test the last checkpoint (per-class AP table, VOC07 mAP). Logs and
# checkpoints go to work_dirs/<config name>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
CONFIG=${CONFIG:-configs/faster_rcnn/faster-rcnn_r18-tiny_fpn_tiny-voc0712.py}
WORK_DIR=work_dirs/$(basename "$CONFIG" .py)
start=$(date +%s)
"$VENV/bin/python" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
ckpt=$(cat "$WORK_DIR/last_checkpoint")
"$VENV/bin/python" tools/test.py "$CONFIG" "$ckpt" --work-dir "$WORK_DIR" \
  --out "$WORK_DIR/results.pkl"
echo "[demo] train + test took $(( $(date +%s) - start )) s; checkpoint $ckpt, logs in $WORK_DIR"
