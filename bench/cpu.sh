#!/usr/bin/env bash
# CPU benchmark: random-weight TinyLlama-1.1B-shape models (Q8_0, Q4_0, F16),
# ingot bench on each, one table. Model files are generated once into
# $BENCH_DIR (default /tmp/ingot-bench; ~4 GB). If llama.cpp's llama-bench is
# on PATH (or $LLAMA_BENCH), it runs on the same files in the same run.
# usage: bench/cpu.sh [BUILD_DIR]   env: THREADS (default 2), REPS (default 5)
set -euo pipefail
build=${1:-build}
dir=${BENCH_DIR:-/tmp/ingot-bench}
threads=${THREADS:-2}
reps=${REPS:-5}
mkdir -p "$dir"
for t in q8_0 q4_0 q4_k f16; do
  f="$dir/tinyllama-1.1b-$t.gguf"
  [ -f "$f" ] || "$build/ingot-gen" --preset tinyllama-1.1b --type "$t" -o "$f"
done
lb=${LLAMA_BENCH:-$(command -v llama-bench || true)}
echo "| engine | model | type | pp512 t/s | tg128 t/s | tg GB/s | % of read bw |"
echo "|---|---|---|--:|--:|--:|--:|"
for t in q8_0 q4_0 q4_k f16; do
  f="$dir/tinyllama-1.1b-$t.gguf"
  "$build/ingot" bench "$f" -p 512 -n 128 -r "$reps" --threads "$threads" --json > "$dir/$t.json" 2>/dev/null
  python3 - "$dir/$t.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("| ingot (%s) | tinyllama-1.1b | %s | %.1f | %.1f | %.1f | %.0f%% |" % (
    d["backend"], d["weight_type"], d["pp"]["tps_median"], d["tg"]["tps_median"], d["tg"]["gbs"],
    100 * d["tg"].get("bw_fraction", 0)))
PY
  if [ -n "$lb" ]; then
    "$lb" -m "$f" -p 512 -n 128 -t "$threads" -r "$reps" -o md 2>/dev/null | grep -E "pp512|tg128" \
      | awk -v t="$t" -F'|' '{printf "| llama.cpp | tinyllama-1.1b | %s | %s |\n", t, $(NF-1)}'
  fi
done
bw=$(python3 -c "import json;d=json.load(open('$dir/q8_0.json'));print('%.1f (%.1f - %.1f)'%(d['bandwidth_gbs'],d['bandwidth_gbs_min'],d['bandwidth_gbs_max']))")
echo
echo "read bandwidth measured by ingot bench beside each Q8_0 run ($threads threads): median $bw GB/s; $(nproc) cores"
echo "(% of read bw: the median over runs of each run's GB/s over the bandwidth measured beside it)"
[ -n "$lb" ] || echo "llama-bench not found: llama.cpp's figures for this shape are in ../shared/ANCHORS.md (Q8_0 pp128 49.7 / tg 16.9, Q4_0 53.4 / 28.3 t/s on a 2-core AVX2 machine)"
