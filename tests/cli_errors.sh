#!/usr/bin/env bash
# The CLI on bad input: every broken model, bad flag or missing file gives a
# non-zero exit and exactly one line on stderr that says what is wrong.
# Also: prompt from stdin, --stop, and `show --json`.
# usage: cli_errors.sh INGOT BAD_DIR MODELS_DIR PYTHON
set -u
ingot=$1 dir=$2 models=$3 py=$4
fails=0
one_line_error() { # name, expected substring, command...
  local name=$1 want=$2; shift 2
  local err; err=$("$@" 2>&1 >/dev/null </dev/null); local rc=$?
  local lines; lines=$(printf '%s\n' "$err" | grep -c .)
  if [ $rc -eq 0 ] || [ "$lines" -ne 1 ] || [[ "$err" != *"$want"* ]] || [[ "$err" != "ingot: error: "* ]]; then
    echo "FAIL $name: rc=$rc lines=$lines: $err"; fails=$((fails+1))
  else
    echo "ok   $name: $err"
  fi
}
for f in truncated bad-magic absurd-tensor-count offset-past-end unknown-type unknown-arch missing-tensor wrong-shape iq2-tensor empty; do
  [ -f "$dir/$f.gguf" ] || { echo "FAIL: $dir/$f.gguf missing (run test_bad_input first)"; fails=$((fails+1)); continue; }
  one_line_error "run $f" "$f.gguf" "$ingot" run "$dir/$f.gguf" "hello"
done
# show describes a model it cannot run and says why (exit 0); a missing one is an error
out=$("$ingot" show "$dir/unknown-arch.gguf" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "runnable            no: .*unknown architecture 'foo'" <<<"$out"; then echo "ok   show unknown-arch: not runnable, says why"
else echo "FAIL show unknown-arch: rc=$rc: $out"; fails=$((fails+1)); fi
one_line_error "show missing" "cannot open" "$ingot" show "$dir/nope.gguf"
one_line_error "missing model" "cannot open" "$ingot" run "$dir/nope.gguf" "hi"
one_line_error "bad temp" "--temp expects a number" "$ingot" run "$dir/good.gguf" "hi" --temp abc
one_line_error "bad -n" "-n expects a whole number" "$ingot" run "$dir/good.gguf" "hi" -n 1.5
one_line_error "unknown flag" "unknown flag '--frobnicate'" "$ingot" run "$dir/good.gguf" --frobnicate
one_line_error "missing value" "--seed needs a value" "$ingot" run "$dir/good.gguf" "hi" --seed
one_line_error "unknown command" "unknown command 'fly'" "$ingot" fly
one_line_error "bench bad --ctx" "--ctx expects a whole number" "$ingot" bench "$dir/good.gguf" --ctx 0

stories=$models/stories260K/stories260K.gguf
if [ -f "$stories" ]; then
  # prompt from stdin equals the same prompt as an argument
  a=$(echo -n "Once upon a time" | "$ingot" run "$stories" -n 20 --temp 0 2>/dev/null)
  b=$("$ingot" run "$stories" "Once upon a time" -n 20 --temp 0 2>/dev/null </dev/null)
  if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok   stdin prompt"; else echo "FAIL stdin prompt: '$a' vs '$b'"; fails=$((fails+1)); fi
  # --stop cuts before the stop string and never prints it
  full=$("$ingot" run "$stories" "" -n 60 --temp 0 --ctx 256 2>/dev/null </dev/null)
  cut=$("$ingot" run "$stories" "" -n 60 --temp 0 --ctx 256 --stop "Lily" 2>/dev/null </dev/null)
  if [ "$cut" = "${full%%Lily*}" ] && [[ "$cut" != *Lily* ]]; then echo "ok   --stop: '$cut'"; else echo "FAIL --stop: '$cut'"; fails=$((fails+1)); fi
  # seeded sampling is reproducible
  s1=$("$ingot" run "$stories" "Once" -n 30 --seed 7 2>/dev/null </dev/null)
  s2=$("$ingot" run "$stories" "Once" -n 30 --seed 7 2>/dev/null </dev/null)
  if [ "$s1" = "$s2" ]; then echo "ok   --seed reproducible"; else echo "FAIL --seed"; fails=$((fails+1)); fi
  # bench --ctx sizes the context it measures in
  if "$ingot" bench "$stories" -p 0 -n 4 -r 1 --ctx 300 --no-bw --json 2>/dev/null | "$py" -c 'import json,sys; d=json.load(sys.stdin); assert d["n_ctx"]==300 and d["tg"]["tps_median"]>0, d'; then
    echo "ok   bench --ctx"; else echo "FAIL bench --ctx"; fails=$((fails+1)); fi
  # bench measures the host's bandwidth beside each run (3 runs, 3 fractions)
  # and keeps its 256 MiB buffer out of the model's peak RSS
  if "$ingot" bench "$stories" -p 0 -n 8 -r 3 --threads 1 --json 2>/dev/null | "$py" -c '
import json,sys; d=json.load(sys.stdin); g=d["tg"]
assert d["bandwidth_method"]=="host read" and 0 < d["bandwidth_gbs_min"] <= d["bandwidth_gbs"] <= d["bandwidth_gbs_max"], d
assert 0 < g["bw_fraction_min"] <= g["bw_fraction"] <= g["bw_fraction_max"], d
assert d["peak_rss_mib"] < 200, d'; then
    echo "ok   bench bandwidth beside each run"; else echo "FAIL bench bandwidth"; fails=$((fails+1)); fi
  # show --json is valid JSON with the fields scripts read
  if "$ingot" show "$stories" --json | "$py" -c 'import json,sys; d=json.load(sys.stdin); assert d["architecture"]=="llama" and d["tokenizer"]["vocab_size"]==512 and d["block_count"]==5 and d["chat_template"] is False, d'; then
    echo "ok   show --json"; else echo "FAIL show --json"; fails=$((fails+1)); fi
else
  echo "note: $stories missing; stdin/stop/seed/show checks not run"
fi
echo "$fails failed"
[ $fails -eq 0 ]
