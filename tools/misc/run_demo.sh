#!/usr/bin/env bash
# The main job: train the demo Faster R-CNN on the shipped tiny VOC data, then
# test the last checkpoint (per-class AP table, VOC07 mAP), then write the
# error analysis (confusion matrix, TIDE, confidence curves). Logs,
# checkpoints and the analysis go to work_dirs/<config name>/.
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
"$VENV/bin/python" tools/analysis/eval_dets.py --pkl "$WORK_DIR/results.pkl" \
  --config "$CONFIG" --metric voc07 coco --analyze "$WORK_DIR/analysis" >/dev/null
echo "[demo] why the mAP is what it is (confusion matrix, TIDE errors, confidence curves): $WORK_DIR/analysis"
