#!/usr/bin/env bash
# The DCAE-recipe runs of results/dcae/judging_rule.md (one-class MNIST) on the lent GPU machine,
# as many as fit in one call of the device tool. On the 2-core CPU they cost 18-50 min each.
#
# Here, before the call (the data and the commit do not travel otherwise; gzip keeps MNIST at 11 MB):
#   mkdir -p .gpu_data/MNIST/raw && for f in ../shared/data/MNIST/raw/*-ubyte; do gzip -c "$f" > ".gpu_data/MNIST/raw/$(basename "$f").gz"; done
#   git rev-parse HEAD > .gpu_data/commit; grep -qx '/.gpu_data/' .git/info/exclude || echo /.gpu_data/ >> .git/info/exclude
# The call:  run(command="bash scripts/gpu_dcae.sh", carry=[".gpu_data"], timeout_s=590)
# LR=1e-3 makes the runs of judging_rule.md's table ("the recipe at 1e-3"; tagged lr1e-3).
# Afterwards: copy the returned mnist-*.json into results/dcae/runs/, commit them, and re-make the
# table in a clean tree: python -m experiments.dcae --datasets mnist --variants ae dcae daad --cached-only
#
# The order is fixed, not chosen by results: `experiments.dcae --pending` lists the runs not yet
# committed, seeds 0, 1, 2 in turn, and within a seed the variants in VARIANTS order and classes 0-9.
# PARALLEL runs share the GPU (each small model leaves most of it idle). No run starts after
# DEADLINE_S; a run still going when the call ends is lost (its JSON is written only at its end).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD DAAD_GIT_COMMIT=$(cat .gpu_data/commit 2>/dev/null || echo unknown)
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT/runs"
PARALLEL=${PARALLEL:-12}; DEADLINE_S=${DEADLINE_S:-420}; VARIANTS=${VARIANTS:-"dcae ae daad"}
LR_ARG=${LR:+--lr $LR}   # LR=1e-3: judging_rule.md's table ("the recipe at 1e-3"), tagged runs
DATA=${DATA:-.gpu_data}
for f in "$DATA"/MNIST/raw/*.gz; do [ -e "${f%.gz}" ] || gunzip -k "$f"; done
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt" || true
start=$(date +%s)
# shellcheck disable=SC2086
python3 -m experiments.dcae --datasets mnist --variants $VARIANTS $LR_ARG --pending > "$OUT/pending.txt"
echo "$(wc -l < "$OUT/pending.txt") runs pending; $PARALLEL at a time, none started after ${DEADLINE_S} s"
export start DEADLINE_S DATA OUT LR_ARG
xargs -P "$PARALLEL" -L 1 bash -c '
  [ $(( $(date +%s) - start )) -lt "$DEADLINE_S" ] || exit 0
  OMP_NUM_THREADS=1 python3 -m experiments.dcae --datasets "$0" --classes "$1" --variants "$2" --seeds "$3" \
    --data-dir "$DATA" $LR_ARG > "$OUT/runs/$0-class$1-$2-seed$3.log" 2>&1 || echo "failed: $0 $1 $2 $3"' < "$OUT/pending.txt"
find results/dcae/runs -name "mnist-*.json" -newer "$OUT/pending.txt" -exec cp {} "$OUT/runs/" \;  # this call's runs only
echo "done at $(( $(date +%s) - start )) s"
