#!/usr/bin/env bash
# Generate a tiny Hugging Face folder (once) and check ingot against the
# transformers fixture. usage: hf_test.sh PYTHON INGOT TEST_LOGITS WORKDIR KIND TOKENIZER_DIR FIXTURE [TYPE]
# TYPE: convert the folder to a GGUF of that type with `ingot convert` and
# check the GGUF instead (q8_0/q4_0: logits within 8e-2 / 2e-1 only).
set -u
py=$1 ingot=$2 tl=$3 work=$4 kind=$5 tok=$6 fixture=$7
here=$(cd "$(dirname "$0")" && pwd)
. "$here/gen_once.sh"
type=${8:-}
if [ -z "$type" ]; then exec "$py" "$here/hf_check.py" "$ingot" "$tl" "$work/$kind" "$fixture"; fi
gguf="$work/$kind.$type.gguf"
"$ingot" convert "$work/$kind" "$gguf" --type "$type" --force || exit 1
case $type in
  q8_0) extra="--tol 8e-2 --loose" ;;
  q4_0) extra="--tol 2e-1 --loose" ;;
  *) extra="" ;;
esac
exec "$py" "$here/hf_check.py" "$ingot" "$tl" "$work/$kind" "$fixture" --model "$gguf" $extra
