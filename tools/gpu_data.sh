#!/usr/bin/env bash
# Copy what tools/gpu_check.sh needs from ../shared into gpu-data/ (ignored by git), so that it
# travels to a GPU machine, which has no ../shared: two otb-dev sequences for the CUDA-vs-CPU
# evaluation and a subset of the training sequences (about 40 MB) for the training run.
#   bash tools/gpu_data.sh [SHARED_DATA_DIR]      (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-../shared/data}
OUT=gpu-data
[ -d "$SRC/otb-dev" ] && [ -f "$SRC/train/list.txt" ] || {
    echo "gpu_data.sh: $SRC has no otb-dev/ or train/list.txt; pass the shared data folder" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT/otb" "$OUT/train"
for seq in Crossing Couple; do cp -r "$SRC/otb-dev/$seq" "$OUT/otb/"; done
budget=$((40 * 1024 * 1024)); used=0
while read -r seq; do
    [ -n "$seq" ] && [ -d "$SRC/train/$seq" ] || continue
    size=$(du -sb "$SRC/train/$seq" | cut -f1)
    [ $((used + size)) -le $budget ] || continue
    cp -r "$SRC/train/$seq" "$OUT/train/" && echo "$seq" >> "$OUT/train/list.txt"
    used=$((used + size))
done < "$SRC/train/list.txt"
echo "gpu-data: $(ls "$OUT/otb" | tr '\n' ' ')and $(wc -l < "$OUT/train/list.txt") training sequences, $(du -sh "$OUT" | cut -f1)"
