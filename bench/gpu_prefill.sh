#!/usr/bin/env bash
# CUDA prompt processing: pp512 tokens/s and achieved TFLOP/s (2 per layer
# weight per token, attention not counted) for kernel variants side by side.
# Run on the GPU machine with a CUDA build (see tests/gpu/run_on_device.sh).
# usage: bench/gpu_prefill.sh BUILD_DIR [preset:type ...]
#   env: VARIANTS (';'-separated env settings, one column each), PP (512)
set -u
B=${1:-build-cuda}; shift || true
models=${*:-"llama-3.2-1b:q4_0"}
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
W=${BENCH_DIR:-/tmp/ingot-gpu-bench}; mkdir -p "$W"
PP=${PP:-512}
IFS=';' read -r -a variants <<< "${VARIANTS:-INGOT_CUDA_FLASH=1;INGOT_CUDA_FLASH=0;INGOT_CUDA_F16_CACHE=0}"
echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
head="| model | type |"; sep="|---|---|"
for v in "${variants[@]}"; do head="$head $v pp$PP t/s (TFLOP/s) |"; sep="$sep--:|"; done
echo "$head"; echo "$sep"
for m in $models; do
  p=${m%%:*} t=${m##*:} f="$W/$p-$t.gguf"
  [ -f "$f" ] || "$B/ingot-gen" --preset "$p" --type "$t" -o "$f" >/dev/null 2>&1 || { echo "| $p | $t | gen failed |"; continue; }
  row="| $p | $t |"
  for v in "${variants[@]}"; do
    r=$(env $v "$B/ingot" bench "$f" --backend cuda -p "$PP" -n 0 -r 5 --no-bw --json 2>/dev/null |
      python3 -c "import json,sys; d=json.load(sys.stdin); t=d['pp']['tps_median']; print('%.0f (%.1f)' % (t, d['pp']['tflops']))" 2>/dev/null || echo fail)
    row="$row $r |"
  done
  echo "$row"
done
