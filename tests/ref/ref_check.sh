#!/usr/bin/env bash
# Generate a random-weight model, dump ingot's logits at every position of a
# 32-token prompt (test_logits also checks the multi-sequence contract), and
# compare them with the independent NumPy reference.
# usage: ref_check.sh GEN TEST_LOGITS PYTHON WORKDIR NAME [ingot-gen flags...]
# env: INGOT_BACKEND (the backend under test), REF_TOL (default 1e-4)
set -u
gen=$1 tl=$2 py=$3 work=$4 name=$5; shift 5
if ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "SKIP: $py has no numpy (apt-get install python3-numpy)"; exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
[ -f "$work/$name.gguf" ] || "$gen" -o "$work/$name.gguf" "$@" 2>/dev/null || exit 1
"$tl" "$work/$name.gguf" "$work/$name.bin" || exit 1
"$py" "$here/reference.py" "$work/$name.gguf" "$work/$name.bin" --tol "${REF_TOL:-1e-4}"
