#!/usr/bin/env bash
# Copy what tools/gpu_check.sh needs from ../shared into gpu-data/ (ignored by git), so that it
# travels to a GPU machine, which has no ../shared: two otb-dev sequences for the CUDA-vs-CPU
# evaluation and a subset of the training sequences (about 40 MB) for the training run.
#   bash tools/gpu_data.sh [SHARED_DATA_DIR]      (default ../shared/data)
# TRAIN_ALL=1 takes every training sequence instead, every second file re-encoded as JPEG
# quality 60 (about 45 MB; file numbers are frame indices, so pair gaps stay true): for the
# box head's run (tools/gpu_train.sh), where the number of videos matters more than their frames.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-../shared/data}
OUT=gpu-data
[ -d "$SRC/otb-dev" ] && [ -f "$SRC/train/list.txt" ] || {
    echo "gpu_data.sh: $SRC has no otb-dev/ or train/list.txt; pass the shared data folder" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT/otb" "$OUT/train"
for seq in Crossing Couple; do cp -r "$SRC/otb-dev/$seq" "$OUT/otb/"; done
if [ "${TRAIN_ALL:-0}" = 1 ]; then
    python - "$SRC/train" "$OUT/train" <<'PY'
import shutil, sys
from pathlib import Path
import cv2
src, out = Path(sys.argv[1]), Path(sys.argv[2])
names = [n for n in (src / "list.txt").read_text().split() if (src / n / "groundtruth.txt").is_file()]
for name in names:
    files = sorted((src / name).glob("*.jpg"))
    lines = (src / name / "groundtruth.txt").read_text().splitlines()
    if len(lines) != len(files):
        sys.exit(f"gpu_data.sh: {src / name}: {len(files)} jpg files but {len(lines)} groundtruth lines")
    keep = range(0, len(files), 2)
    (out / name).mkdir(parents=True)
    for i in keep:
        cv2.imwrite(str(out / name / files[i].name), cv2.imread(str(files[i])), [cv2.IMWRITE_JPEG_QUALITY, 60])
    (out / name / "groundtruth.txt").write_text("".join(lines[i] + "\n" for i in keep))
    if (src / name / "absence.label").is_file():
        flags = (src / name / "absence.label").read_text().split()
        (out / name / "absence.label").write_text("".join(flags[i] + "\n" for i in keep if i < len(flags)))
(out / "list.txt").write_text("".join(n + "\n" for n in names))
PY
else
    budget=$((40 * 1024 * 1024)); used=0
    while read -r seq; do
        [ -n "$seq" ] && [ -d "$SRC/train/$seq" ] || continue
        size=$(du -sb "$SRC/train/$seq" | cut -f1)
        [ $((used + size)) -le $budget ] || continue
        cp -r "$SRC/train/$seq" "$OUT/train/" && echo "$seq" >> "$OUT/train/list.txt"
        used=$((used + size))
    done < "$SRC/train/list.txt"
fi
echo "gpu-data: $(ls "$OUT/otb" | tr '\n' ' ')and $(wc -l < "$OUT/train/list.txt") training sequences, $(du -sh "$OUT" | cut -f1)"
