#!/usr/bin/env bash
# The longest training run the open issues need, for the minutes a GPU session has left after
# tools/gpu_check.sh: the box head (#22) on MobileNetV2, its last two ImageNet stages tuned, with
# the box heads' strong scale and aspect-ratio jitter (BOX_PAIRS in training/pairs.py), which
# makes it measure the target's size and shape: with a scale jitter of 0.25 a frozen-feature
# head's log size followed the true one with slope 0.18 (it guessed the usual size), 0.6 raised
# that to 0.7. On 2 CPU cores only frozen ImageNet layers were affordable, and those heads still
# lean to the usual size and to square.
#   TRAIN_ALL=1 bash tools/gpu_data.sh              (here: all 105 training sequences, about 45 MB)
#   bash tools/gpu_train.sh OUT_DIR [SECONDS]       (on the GPU machine; default 420 s)
#   DEVICE=cpu QUICK=1 bash tools/gpu_train.sh /tmp/gpu-train-dry 120   (dry run on a CPU)
# Resumable: a run folder runs/box_gpu/ in the working tree (carry it to the machine) is copied
# to OUT_DIR/box_gpu and continued; the run stops after SECONDS with its last finished epoch in
# OUT_DIR/box_gpu (epoch_NNN.pth, last.pth, metrics.csv): copy that folder back to runs/box_gpu.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/gpu_train.sh OUT_DIR [SECONDS]}
SECONDS_LEFT=${2:-420}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
DATA=${GPU_DATA:-gpu-data}
[ -f "$DATA/train/list.txt" ] || { echo "gpu_train.sh: no $DATA/train/list.txt; run tools/gpu_data.sh first" >&2; exit 2; }
if [ "$QUICK" = 1 ]; then PAIRS=32; WORKERS=0; else PAIRS=16000; WORKERS=$(( $(nproc) - 2 )); fi
mkdir -p "$OUT"
RUN="$OUT/box_gpu"
if [ -d runs/box_gpu ] && [ ! -d "$RUN" ]; then cp -r runs/box_gpu "$RUN"; fi
start=$(date +%s)
timeout --signal=INT "$SECONDS_LEFT" python -m tracker train --data "$DATA/train" --out "$RUN" \
    --backbone mobilenetv2 --head box --start-from weights/siamfc_mobilenetv2.pth \
    --train-stages 2 --unfreeze-epoch 1 --epochs 20 \
    --pairs-per-epoch "$PAIRS" --device "$DEVICE" --workers "$WORKERS" --resume --quiet \
    > "$OUT/gpu_train.txt" 2>&1
rc=$?
{
    echo "gpu_train on $(hostname), device $DEVICE, rc=$rc (124 or 130: stopped at the time limit), $(( $(date +%s) - start )) s"
    [ -f "$RUN/metrics.csv" ] && cat "$RUN/metrics.csv"
    tail -5 "$OUT/gpu_train.txt"
} | tee "$OUT/gpu_train_summary.txt"
