#!/usr/bin/env bash
# Metaspace / byte-fallback tokenizer.json (as transformers converts a
# SentencePiece BPE model) against the llama-spm goldens.
# usage: spm_json_test.sh PYTHON TEST_TOKENIZER VOCAB_DIR WORKDIR
set -u
py=$1 tt=$2 vocab=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
if ! "$py" -c 'import numpy' 2>/dev/null; then echo "SKIP: $py has no numpy"; exit 77; fi
if [ ! -f "$vocab/ggml-vocab-llama-spm.gguf" ]; then echo "SKIP: $vocab/ggml-vocab-llama-spm.gguf not found"; exit 77; fi
"$py" "$here/spm_to_tokenizer_json.py" "$vocab/ggml-vocab-llama-spm.gguf" "$work/llama-spm-json" || exit 1
exec "$tt" "$work/llama-spm-json" --cases "$vocab/ggml-vocab-llama-spm.gguf"
