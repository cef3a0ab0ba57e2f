#!/usr/bin/env bash
# `ingot convert` GGUF -> GGUF into each weight type, checked with the NumPy
# reference on the scalar backend (1e-4), plus its error handling.
# usage: convert_check.sh INGOT GEN TEST_LOGITS PYTHON WORKDIR
set -u
ingot=$1 gen=$2 tl=$3 py=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
if ! "$py" -c 'import numpy' 2>/dev/null; then echo "SKIP: $py has no numpy"; exit 77; fi
mkdir -p "$work"
fail=0
src="$work/conv-src.gguf"
"$gen" -o "$src" --arch llama --type f32 --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 300 --n-layer 2 2>/dev/null || exit 1
for t in f16 q8_0 q4_0 q4_k q6_k; do
  dst="$work/conv-$t.gguf"
  if ! "$ingot" convert "$src" "$dst" --type $t --force 2>"$work/conv-$t.err"; then
    echo "FAIL convert to $t: $(cat "$work/conv-$t.err")"; fail=1; continue
  fi
  if INGOT_BACKEND=cpu-ref "$tl" "$dst" "$dst.bin" >/dev/null && out=$("$py" "$here/ref/reference.py" "$dst" "$dst.bin" --tol 1e-4); then
    echo "ok   $t: $out"
  else
    echo "FAIL $t: $out"; fail=1
  fi
done
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
out=$("$ingot" convert "$src" "$work/conv-f16.gguf" 2>&1); rc=$?
check "an existing output is not overwritten without --force" '[ $rc -ne 0 ] && [[ "$out" == *"--force"* ]]'
out=$("$ingot" convert "$src" "$work/x.gguf" --type q3_k 2>&1); rc=$?
check "an unknown type is named" '[ $rc -ne 0 ] && [[ "$out" == *"unknown --type"* ]]'
out=$("$ingot" convert "$src" "$work/no-such-dir/x.gguf" 2>&1); rc=$?
check "an unwritable output is an error, nothing left behind" '[ $rc -ne 0 ] && [ ! -e "$work/no-such-dir" ]'
out=$("$ingot" convert "$work/missing.gguf" "$work/y.gguf" 2>&1); rc=$?
check "a missing source is an error" '[ $rc -ne 0 ] && [[ "$out" == *"cannot open"* ]] && [ ! -e "$work/y.gguf" ] && [ ! -e "$work/y.gguf.tmp" ]'
exit $fail
