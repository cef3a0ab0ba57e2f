#!/usr/bin/env bash
# Where a decode token's time goes on the GPU: per-kernel breakdown of one
# replayed decode step, from a build configured with -DINGOT_CUDA_TRACE=ON
# (per-block timestamps; see src/backend/cuda/trace.cuh), next to the
# tokens/s of the normal build on the same file.
# usage: bench/gpu_trace.sh BUILD_DIR TRACE_BINARY [preset:type ...]
set -u
B=${1:-build-cuda}; T=${2:-build-trace/ingot}; shift $(($# < 2 ? $# : 2))
models=${*:-"llama-3.2-1b:q4_0"}
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
W=${BENCH_DIR:-/tmp/ingot-gpu-bench}; mkdir -p "$W"
for m in $models; do
  p=${m%%:*} t=${m##*:} f="$W/$p-$t.gguf"
  [ -f "$f" ] || "$B/ingot-gen" --fast --preset "$p" --type "$t" -o "$f" >/dev/null 2>&1 || { echo "$m: gen failed"; continue; }
  tps=$("$B/ingot" bench "$f" --backend cuda -p 0 -n 128 -r 3 --no-bw --json 2>/dev/null |
        python3 -c "import json,sys; print('%.1f' % json.load(sys.stdin)['tg']['tps_median'])" 2>/dev/null)
  echo "## $p $t: tg128 ${tps:-fail} t/s (normal build, $(awk "BEGIN{printf \"%.1f\", 1e6/${tps:-1}}") us per token)"
  echo
  INGOT_CUDA_TRACE="$W/$p-$t.trace" "$T" bench "$f" --backend cuda -p 0 -n 32 -r 1 --no-bw >/dev/null 2>&1
  python3 bench/trace_report.py "$W/$p-$t.trace" || echo "(no trace)"
  echo
done
