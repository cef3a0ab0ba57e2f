#!/usr/bin/env bash
# CUDA decode benchmark: kernel variants side by side on random-weight models
# of real shapes, and batched decode (N sequences in one multi-sequence step).
# Run on the GPU machine with a CUDA build (see tests/gpu/run_on_device.sh).
# usage: bench/gpu_decode.sh BUILD_DIR [preset:type ...]
#   env: VARIANTS (';'-separated env settings, one column each),
#        PARALLEL (sequence counts for the batched table, on the first model),
#        PAR_VARIANTS (';'-separated settings for the batched table)
set -u
B=${1:-build-cuda}; shift || true
models=${*:-"llama-3.2-1b:q4_0"}
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
W=${BENCH_DIR:-/tmp/ingot-gpu-bench}; mkdir -p "$W"
IFS=';' read -r -a variants <<< "${VARIANTS:-INGOT_CUDA_GEMV=1;INGOT_CUDA_GEMV=2;INGOT_CUDA_PDL=0}"
IFS=';' read -r -a pvariants <<< "${PAR_VARIANTS:-INGOT_CUDA_GEMV=2}"
bw=$(python3 tests/gpu/copybw.py)
echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); copy bandwidth $bw GB/s (PyTorch, 4 GiB)"
echo "(% bw: ingot bench's own, each run over a 1 GiB device copy measured beside it)"
echo
head="| model | type |"; sep="|---|---|"
for v in "${variants[@]}"; do head="$head $v t/s (% bw) |"; sep="$sep--:|"; done
echo "$head"; echo "$sep"
tg() { # env-settings file -> "t/s (pct)"
  env $1 "$B/ingot" bench "$2" --backend cuda -p 0 -n 128 -r 3 --json 2>/dev/null |
    python3 -c "import json,sys; g=json.load(sys.stdin)['tg']; print('%.1f (%.0f%%)' % (g['tps_median'], 100*g['bw_fraction']))" 2>/dev/null || echo "fail"
}
for m in $models; do
  p=${m%%:*} t=${m##*:} f="$W/${m%%:*}-${m##*:}.gguf"
  [ -f "$f" ] || "$B/ingot-gen" --fast --preset "$p" --type "$t" -o "$f" >/dev/null 2>&1 || { echo "| $p | $t | gen failed |"; continue; }
  row="| $p | $t |"
  for v in "${variants[@]}"; do row="$row $(tg "$v" "$f") |"; done
  echo "$row"
done
first=${models%% *}; f="$W/${first%%:*}-${first##*:}.gguf"
echo
echo "batched decode, $first: aggregate t/s (x batch 1)"
head="| sequences |"; sep="|--:|"
for v in "${pvariants[@]}"; do head="$head $v |"; sep="$sep--:|"; done
echo "$head"; echo "$sep"
declare -A base
for n in ${PARALLEL:-1 8 16 32 64}; do
  row="| $n |"
  for v in "${pvariants[@]}"; do
    r=$(env $v "$B/ingot" bench "$f" --backend cuda -p 0 -n 64 -r 2 --parallel "$n" --no-bw --json 2>/dev/null |
        python3 -c "import json,sys; print('%.0f' % json.load(sys.stdin)['tg']['tps_median'])" 2>/dev/null || echo 0)
    [ "$n" = 1 ] && base[$v]=$r
    row="$row $r ($(python3 -c "print('%.1fx' % ($r / max(1, ${base[$v]:-1})))")) |"
  done
  echo "$row"
done
