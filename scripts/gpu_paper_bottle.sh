#!/usr/bin/env bash
# The paper's protocol on MVTec AD bottle (256 px, batch 8; AE, DAAD, DAAD+ at once) on the
# lent GPU machine, in one call of the device tool that fits its 10-minute limit.
#
# Here, before the call (the data and the commit do not travel otherwise):
#   mkdir -p .gpu_data && cp -r ../shared/data/mvtec_ad/bottle .gpu_data/ && git rev-parse HEAD > .gpu_data/commit
#   grep -qx '/.gpu_data/' .git/info/exclude || echo /.gpu_data/ >> .git/info/exclude
# The call:  run(command="bash scripts/gpu_paper_bottle.sh", carry=[".gpu_data"], timeout_s=590)
#
# Rule, fixed before any GPU run: a 3-epoch probe of all three models measures the seconds per
# epoch (the slowest model, epochs 2-3); the real run takes the paper's 1000 epochs if they fit
# in BUDGET_S, else the largest multiple of 50 epochs that fits, and says so in its results.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD DAAD_GIT_COMMIT=$(cat .gpu_data/commit 2>/dev/null || echo unknown)
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-420}   # for training; the probe, start-up and evaluation take the rest of 590 s
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"

python3 -m experiments.paper_gpu --data-dir .gpu_data/bottle --epochs 3 --out /tmp/probe \
  --results "$OUT/probe.json" 2>&1 | tee "$OUT/probe_log.txt"
epochs=$(python3 - "$BUDGET_S" <<'PY'
import json, sys
from pathlib import Path
per_epoch = max(sum(json.loads(l)["seconds"] for l in p.read_text().splitlines()[1:]) / 2
                for p in Path("/tmp/probe").glob("*/log.jsonl"))
fits = int(float(sys.argv[1]) / per_epoch)
print(1000 if fits >= 1000 else max(50, fits // 50 * 50))
print(f"slowest model: {per_epoch:.2f} s/epoch; {fits} epochs fit in {sys.argv[1]} s", file=sys.stderr)
PY
)
echo "training $epochs epochs" | tee -a "$OUT/probe_log.txt"
python3 -m experiments.paper_gpu --data-dir .gpu_data/bottle --epochs "$epochs" --out /tmp/paper_runs \
  --results "$OUT/bottle_gpu.json" 2>&1 | tee "$OUT/log.txt"
for run in /tmp/paper_runs/bottle-*; do cp "$run/train.json" "$OUT/$(basename "$run")_train.json"; done
# The trained models, visible (reconstructions, maps, ROC curves of every model; small PNG/JSON);
# a failure here keeps the training results above.
python3 -m experiments.visuals --name bottle_gpu --out "$OUT" \
  --checkpoint AE=/tmp/paper_runs/bottle-ae/checkpoint.pt --checkpoint DAAD=/tmp/paper_runs/bottle-daad/checkpoint.pt \
  --checkpoint DAAD+=/tmp/paper_runs/bottle-daad_plus/checkpoint.pt 2>&1 | tee -a "$OUT/log.txt" || echo "visuals failed" | tee -a "$OUT/log.txt"
