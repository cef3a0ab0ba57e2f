#!/usr/bin/env bash
# Generate an MLX-quantized folder (once) and check it with mlx_check.py.
# usage: mlx_test.sh PYTHON INGOT TEST_LOGITS WORKDIR KIND TOKENIZER_DIR [--tol T]
set -u
py=$1 ingot=$2 tl=$3 work=$4 kind=$5 tok=$6; shift 6
here=$(cd "$(dirname "$0")" && pwd)
if ! "$py" -c 'import numpy' 2>/dev/null; then echo "SKIP: $py has no numpy"; exit 77; fi
if [ ! -f "$tok/tokenizer.json" ]; then echo "SKIP: $tok/tokenizer.json not found"; exit 77; fi
mkdir -p "$work"
if [ ! -f "$work/$kind/config.json" ]; then
  rm -rf "$work/$kind.tmp"
  "$py" "$here/gen_hf.py" "$kind" "$tok" "$work/$kind.tmp" && mv "$work/$kind.tmp" "$work/$kind" || exit 1
fi
exec "$py" "$here/mlx_check.py" "$ingot" "$tl" "$work/$kind" "$work/$kind.check" "$@"
