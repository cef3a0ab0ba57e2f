#!/usr/bin/env bash
# The real trained stories260K model, greedy, 200 tokens from BOS with no
# prompt: stdout must equal the published output byte for byte.
# usage: stories_greedy.sh INGOT MODELS_DIR
set -u
ingot=$1 models=$2
model=$models/stories260K/stories260K.gguf
expected=$models/stories260K/stories260K.greedy200.expected.txt
if [ ! -f "$model" ] || [ ! -f "$expected" ]; then
  echo "SKIP: $model not found (set INGOT_TEST_MODELS)"; exit 77
fi
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$ingot" run "$model" "" -n 200 --temp 0 --ctx 256 >"$out" 2>"$err" || { cat "$err"; exit 1; }
if cmp -s "$out" "$expected"; then
  echo "PASS: greedy output matches ($(wc -c <"$out") bytes); $(cat "$err")"
else
  echo "FAIL: output differs from $expected"; diff <(cat "$expected"; echo) <(cat "$out"; echo) | head -20; exit 1
fi
# the stats line is one line on stderr with the fields users read
grep -Eq '^load [0-9.]+ s \| prompt 1 tok, [0-9.]+ tok/s \| gen 200 tok, [0-9.]+ tok/s' "$err" \
  || { echo "FAIL: stats line: $(cat "$err")"; exit 1; }
