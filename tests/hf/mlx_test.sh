#!/usr/bin/env bash
# Generate an MLX-quantized folder (once) and check it with mlx_check.py.
# usage: mlx_test.sh PYTHON INGOT TEST_LOGITS WORKDIR KIND TOKENIZER_DIR [--tol T]
set -u
py=$1 ingot=$2 tl=$3 work=$4 kind=$5 tok=$6; shift 6
here=$(cd "$(dirname "$0")" && pwd)
. "$here/gen_once.sh"
exec "$py" "$here/mlx_check.py" "$ingot" "$tl" "$work/$kind" "$work/$kind.check" "$@"
