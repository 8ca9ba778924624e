#!/usr/bin/env bash
# The GPU check of issue #21, in one go, everything written into OUT_DIR (summary.txt first):
#   1. the CUDA tests (device-parametrised tests on cuda, tests/test_cuda.py);
#   2. siamfc bench on the device for 1 and 32 targets, fp32 and fp16, AlexNet and lite, with
#      stage times, AlexNet fp32 again with --cuda-graphs, and the same machine's CPU bench;
#   3. siamfc eval of two otb-dev sequences on the device and on the CPU (AUC within 0.005);
#   4. a short training run on the device (2 epochs of the shipped recipe) for pairs/s.
# Prepare the data first (the GPU machine has no ../shared): bash tools/gpu_data.sh
# On a GPU machine:   bash tools/gpu_check.sh "$OUT"
# Dry run on a CPU:   DEVICE=cpu QUICK=1 bash tools/gpu_check.sh /tmp/gpu-dry
# A step that fails is recorded (rc in summary.txt) and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/gpu_check.sh OUT_DIR}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
DATA=${GPU_DATA:-gpu-data}
mkdir -p "$OUT"
if [ "$QUICK" = 1 ]; then FRAMES=3; MANY=2; EPOCHS=1; PAIRS=32; else FRAMES=300; MANY=32; EPOCHS=2; PAIRS=3200; fi
if [ "$DEVICE" = cpu ]; then LOW=int8; else LOW=fp16; fi    # the dry run: a CPU precision
export SIAMFC_CACHE_DIR="$OUT/cache"
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
step() {      # step NAME COMMAND...: output in OUT/NAME.txt, exit code and time in summary.txt
    local name=$1; shift
    local start=$SECONDS
    "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    summary "$name: rc=$rc, $((SECONDS - start)) s: $*"
    return 0
}
: > "$OUT/summary.txt"
summary "gpu_check on $(hostname), device $DEVICE, quick=$QUICK, $(date -u +%Y-%m-%dT%H:%MZ)"
step env bash -c "nvidia-smi || true; python -m tracker --version; python -c 'import torch; \
print(\"cuda\", torch.cuda.is_available(), torch.version.cuda, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"-\")'; lscpu | head -20"

# 1. CUDA tests (on a CPU-only machine they are all skipped or deselected: pytest exit 5)
step tests python -m pytest -q -rs tests/test_cuda.py tests/test_crops.py tests/test_fusion.py \
    tests/test_tracker.py tests/test_staging.py -k "cuda or test_cuda or staging"

# 2. speed: device, 1 and MANY targets, fp32 and low precision, AlexNet and lite; CPU beside it
for net in alexnet lite; do
    flag=""; [ "$net" = lite ] && flag="--lite"
    for dtype in fp32 $LOW; do
        step "bench-$net-$dtype" python -m tracker bench $flag --device "$DEVICE" --dtype "$dtype" \
            --targets "$MANY" --frames "$FRAMES" --no-opencv
    done
    step "bench-$net-cpu" python -m tracker bench $flag --device cpu --frames "$FRAMES" --no-opencv
done
# the backbone replayed from CUDA graphs (fewer launches): 1 and MANY targets, AlexNet fp32
if [ "$DEVICE" != cpu ]; then
    step bench-alexnet-fp32-graphs python -m tracker bench --device "$DEVICE" --dtype fp32 \
        --targets "$MANY" --frames "$FRAMES" --no-opencv --cuda-graphs
else
    summary "bench-alexnet-fp32-graphs: skipped on the CPU (CUDA graphs need CUDA)"
fi

# 3. the same two sequences on the device and on the CPU: same AUC within 0.005
if [ -d "$DATA/otb" ]; then
    for dev in "$DEVICE" cpu; do
        step "eval-$dev" python -m tracker eval "$DATA/otb" --trackers siamfc --dtype fp32 \
            --device "$dev" --results-dir "$OUT/eval-$dev/results" --report-dir "$OUT/eval-$dev/reports" \
            --no-plots --quiet
    done
    step eval-compare python - "$OUT" "$DEVICE" <<'PY'
import json, sys
out, device = sys.argv[1], sys.argv[2]
auc = {d: json.load(open(f"{out}/eval-{d}/reports/siamfc/performance.json"))["siamfc"]["overall"]["success_score"]
       for d in (device, "cpu")}
diff = abs(auc[device] - auc["cpu"])
print(f"AUC {device} {auc[device]:.4f}, cpu {auc['cpu']:.4f}, difference {diff:.4f} (allowed 0.005)")
sys.exit(0 if diff <= 0.005 else 1)
PY
else
    summary "eval: skipped, no $DATA/otb (run tools/gpu_data.sh first)"
fi

# 4. training on the device: pairs/s of the shipped recipe (checkpoints come back in OUT/train)
if [ -f "$DATA/train/list.txt" ]; then
    step train python -m tracker train --data "$DATA/train" --out "$OUT/train" --epochs "$EPOCHS" \
        --pairs-per-epoch "$PAIRS" --device "$DEVICE" --workers 4 --quiet
    [ -f "$OUT/train/metrics.csv" ] && summary "train metrics: $(tr '\n' ' ' < "$OUT/train/metrics.csv")"
else
    summary "train: skipped, no $DATA/train (run tools/gpu_data.sh first)"
fi
summary "done: $(grep -c 'rc=0' "$OUT/summary.txt") steps passed"
