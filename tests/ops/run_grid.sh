#!/usr/bin/env bash
# The op-level grid: random-weight models of every weight type and a few
# shapes (odd block counts, GQA and MHA, head sizes 32/64/96/128/256, qwen2's
# biases and NeoX RoPE, a vocabulary that is no multiple of a tile and one
# large enough for the GPU's vocabulary-sized GEMV shapes, K-quant rows of 1, 2,
# 3, 5 and 8 super-blocks (every alignment of the GPU's Q6_K loads), a down projection
# long enough for the batched GEMM to split its rows' blocks), each run
# through test_backend_ops for one backend against the scalar reference.
# usage: run_grid.sh INGOT_GEN TEST_BACKEND_OPS WORKDIR BACKEND [TYPES...]
# exit 0 all passed, 1 a failure, 77 the backend is not usable here.
set -u
GEN=$1 TEST=$2 W=$3 BACKEND=$4; shift 4
types=${*:-"f32 f16 bf16 q8_0 q4_0 q4_k q6_k"}
mkdir -p "$W"
fails=0 runs=0
for type in $types; do
  case $type in
    q4_k|q6_k) shapes=("llama --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 768 --n-vocab 301"
                       "qwen2 --n-embd 512 --n-head 4 --n-head-kv 4 --n-ff 1280 --n-vocab 263"
                       "llama --n-embd 512 --n-head 2 --n-head-kv 1 --n-ff 512 --n-vocab 300"
                       "llama --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 256 --n-vocab 33000"
                       "llama --n-embd 2048 --n-head 16 --n-head-kv 4 --n-ff 2048 --n-vocab 300");;
    *)         shapes=("llama --n-embd 160 --n-head 5 --n-head-kv 1 --n-ff 352 --n-vocab 301"
                       "qwen2 --n-embd 256 --n-head 2 --n-head-kv 2 --n-ff 96 --n-vocab 263"
                       "llama --n-embd 256 --n-head 8 --n-head-kv 2 --n-ff 704 --n-vocab 300"
                       "llama --n-embd 192 --n-head 2 --n-head-kv 1 --n-ff 256 --n-vocab 300"
                       "llama --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 256 --n-vocab 33000"
                       "llama --n-embd 320 --n-head 5 --n-head-kv 1 --n-ff 1088 --n-vocab 301");;
  esac
  for i in "${!shapes[@]}"; do
    f=$W/$type-$i.gguf
    "$GEN" -o "$f" --arch ${shapes[$i]} --n-layer 1 --type "$type" --seed $((i + 7)) >/dev/null || { echo "FAIL ingot-gen $type ${shapes[$i]}"; exit 1; }
    "$TEST" "$f" "$BACKEND" > "$W/$type-$i.log" 2>&1
    rc=$?
    [ $rc = 77 ] && { cat "$W/$type-$i.log"; exit 77; }
    runs=$((runs + 1))
    echo "$type ${shapes[$i]}: $(tail -1 "$W/$type-$i.log")"
    if [ $rc != 0 ]; then grep -E "^FAIL" "$W/$type-$i.log"; fails=$((fails + 1)); fi
  done
done
echo "$runs models, $fails with failures"
[ $fails = 0 ]
