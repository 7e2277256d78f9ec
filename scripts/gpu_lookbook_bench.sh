#!/usr/bin/env bash
# Time the lookbook's diffusion GPU actors with random weights of the real size (SD 1.5 inpainting + IP-Adapter),
# on a machine with a GPU and requirements.txt installed. Prints pairs per minute. Nothing is downloaded.
#   scripts/gpu_lookbook_bench.sh [PEOPLE=4] [GARMENTS=4]      (the repository's example photos)
# A CPU check of the same path: WEIGHTS_ARGS=--tiny LOOKBOOK_ARGS="--num-gpus 1" TRYON_DEVICE=cpu \
#   TRYON_DIFFUSION_STEPS=2 scripts/gpu_lookbook_bench.sh 2 2
set -euo pipefail
PEOPLE=${1:-4}
GARMENTS=${2:-4}
PY=${PYTHON:-python}
WORK=${WORK:-$(mktemp -d)}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PY" scripts/random_diffusion_weights.py "$WORK/weights" ${WEIGHTS_ARGS:-}
mkdir -p "$WORK/people" "$WORK/garments"
ls assets/people/*.jpg | head -n "$PEOPLE" | xargs -I{} cp {} "$WORK/people/"
ls assets/garments/*.jpg | head -n "$GARMENTS" | xargs -I{} cp {} "$WORK/garments/"
TRYON_DIFFUSION_MODEL="$WORK/weights/pipeline" TRYON_DIFFUSION_IP_ADAPTER="$WORK/weights/ip/ip-adapter_sd15.safetensors" \
  "$PY" -m tryon lookbook --renderer diffusion --people "$WORK/people" --garments "$WORK/garments" \
  --out "$WORK/lookbook" --no-progress ${LOOKBOOK_ARGS:-}
"$PY" - "$WORK/lookbook/run.json" <<'PYEOF'
import json, sys
run = json.load(open(sys.argv[1]))
t, n = run["timeline_seconds"], run["counts"]["ok"]
steady = max(n - 1, 1) / max(t["last_pair"] - t["first_pair"], 1e-9) * 60
print(f"{n} pairs in {run['wall_seconds']:.1f} s wall ({n / run['wall_seconds'] * 60:.1f} pairs/min overall, "
      f"{steady:.1f} pairs/min after the first); actors: {run['executor'].get('actors')}; "
      f"per pair in the actor {run['pair_seconds_mean']} s; timeline {t}")
PYEOF
