#!/usr/bin/env bash
# The GPU session, prepared: the most valuable GPU work first, in one call of the lent machine.
#
#   bash simulations/gpu_session.sh [TRAIN_MINUTES]          # default 4
#
# On the device machine (its python3 holds torch, h5py, scipy, matplotlib, tqdm; nothing can be
# installed there, so the package runs from the checkout through PYTHONPATH) it writes under
# $OUT (default data/gpu_session):
#   1. gpu.pt, gpu.json, train.log: the shipped recipe (target weight 1, peak weight 3, Doppler
#      roll, floor profile) fine-tuned from the shipped weights on the broad11 mixture, on CUDA
#      with bf16 autocast and channels-last (TrainConfig's defaults there), BATCH maps a step,
#      for TRAIN_MINUTES; the mixture is simulated by every core into $WORK, which stays there
#      (about 10 GB: it must not come back through $OUT). Building it counts against the
#      call's time limit on top of TRAIN_MINUTES; if a call runs out while building, the next
#      call on the same (still warm) machine reuses every dataset already written, as
#      data/ is git-ignored and kept between calls;
#   2. demo/, demo.log: the CUDA pass, `rd-unet demo --quick --device cuda` (simulate, train,
#      evaluate, clean on the small default scenario);
#   3. bench_train.txt, bench_clean.txt: benchmarks/train.py (fp32 against bf16) and clean.py
#      on the GPU, for BENCHMARKS.md;
#   4. summary.txt: the machine, each step's exit status and seconds.
# Back on the development machine, judge gpu.pt like any candidate (simulations/ablate.py
# against the shipped model on the selection maps) before simulations/ship_pretrained.py.
#
# Environment: OUT, WORK (default data/gpu_work), PY (python3), DEVICE (cuda), MIXTURE
# (broad11), SCALE (the mixture's --mixture-scale, 1), BATCH (64), LR (2e-4: the recipe's
# 1e-4 at 16 maps a step, scaled by the square root of the batch), TRAIN_ARGS (more flags for
# train_pretrained.py), BENCH_ARGS (flags for both benchmarks). A smoke run on a CPU:
#   DEVICE=cpu MIXTURE=base SCALE=0.001 TRAIN_ARGS="--max-steps-per-epoch 3 --epochs 1" \
#   BENCH_ARGS="--maps 32" OUT=/tmp/gpu_smoke bash simulations/gpu_session.sh 1
set -u
MINUTES=${1:-4}
OUT=${OUT:-data/gpu_session}
WORK=${WORK:-data/gpu_work}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
MIXTURE=${MIXTURE:-broad11}
SCALE=${SCALE:-1}
BATCH=${BATCH:-64}
LR=${LR:-2e-4}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT" "$WORK"
: > "$OUT/summary.txt"

step() {   # step NAME LOG COMMAND...: run it, log its output, record its exit status and time
    local name=$1 log=$2 t0=$SECONDS
    shift 2
    "$@" > "$OUT/$log" 2>&1
    local rc=$?
    echo "$name: rc $rc, $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
}

{
    nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    echo "cores $(nproc)"
} >> "$OUT/summary.txt" 2>&1

# shellcheck disable=SC2086  # TRAIN_ARGS and BENCH_ARGS are lists of flags
step train train.log "$PY" simulations/train_pretrained.py --workdir "$WORK" --mixture "$MIXTURE" \
    --mixture-scale "$SCALE" --workers "$(nproc)" --device "$DEVICE" --batch-size "$BATCH" \
    --init rd_unet/pretrained/default.pt --lr "$LR" --target-weight 1 --peak-weight 3 --doppler-roll \
    --floor-profile --time-limit-min "$MINUTES" --run-name gpu --output "$OUT/gpu.pt" ${TRAIN_ARGS:-}
step demo demo.log "$PY" -m rd_unet demo --quick --device "$DEVICE" --output "$OUT/demo"
# shellcheck disable=SC2086
step bench_train bench_train.txt "$PY" benchmarks/train.py --batch-size "$BATCH" ${BENCH_ARGS:-}
# shellcheck disable=SC2086
step bench_clean bench_clean.txt "$PY" benchmarks/clean.py ${BENCH_ARGS:-}
cat "$OUT/summary.txt"
