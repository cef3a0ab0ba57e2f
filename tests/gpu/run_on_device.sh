#!/usr/bin/env bash
# GPU checks and benchmarks, run on the GPU machine with a CUDA build carried
# from the development machine (build-cuda/, libcjson beside it in lib/):
#   1. logits of random-weight llama/qwen2 models (F32/F16/BF16/Q8_0/Q4_0,
#      GQA, bias, tied/untied, rope_freqs) on CUDA vs the NumPy reference
#      (1e-4), plus test_logits' multi-sequence checks on CUDA;
#   2. stories260K greedy on CUDA, byte for byte;
#   3. compute-sanitizer memcheck on one model;
#   4. ingot bench on real shapes; % of the device copy bandwidth that ingot
#      bench measures beside each run (PyTorch's 4 GiB copy printed beside it).
#   5. the op grid (tests/ops/run_grid.sh): every op vs the scalar reference;
#   6. prefill through cuBLAS (INGOT_CUDA_CUBLAS_MIN=16) against the reference at 2e-2.
# usage: tests/gpu/run_on_device.sh BUILD_DIR OUT_DIR [bench-presets...]
set -u
B=${1:-build-cuda} OUT=${2:-/tmp/out}; shift 2 || true
presets=${*:-"qwen2.5-0.5b llama-3.2-1b tinyllama-1.1b"}
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
W=/tmp/ingot-gpu; mkdir -p "$W" "$OUT"
fails=0
nvidia-smi -L
python3 tests/gpu/copybw.py > "$W/copybw.txt"
bw=$(cat "$W/copybw.txt"); echo "device copy bandwidth (read+write): $bw GB/s"

echo "== correctness: CUDA vs NumPy reference"
SMALL="--n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 96 --n-vocab 300 --n-layer 2"
while read -r name flags; do
  "$B/ingot-gen" -o "$W/$name.gguf" $flags 2>/dev/null
  if INGOT_CUDA_GEMV=1 INGOT_CUDA_CUBLAS=0 INGOT_CUDA_FLASH=0 INGOT_BACKEND=cuda "$B/tests/test_logits" "$W/$name.gguf" "$W/$name.bin" > "$W/$name.log" 2>&1 &&
     python3 tests/ref/reference.py "$W/$name.gguf" "$W/$name.bin" --tol 1e-4 >> "$W/$name.log" 2>&1; then
    echo "ok   $name: $(grep -h 'max rel err' "$W/$name.log" | tail -1)"
  else echo "FAIL $name"; cat "$W/$name.log"; fails=$((fails+1)); fi
done <<EOF2
llama_f32 --arch llama --type f32 $SMALL
llama_f16_tied --arch llama --type f16 --tied $SMALL
llama_mha --arch llama --type f32 --n-embd 64 --n-head 4 --n-head-kv 4 --n-ff 96 --n-vocab 300 --n-layer 3
llama_rope_freqs --arch llama --type f32 --rope-freqs --rope-base 500000 $SMALL
qwen2_f32_tied --arch qwen2 --type f32 --tied --rope-base 1000000 $SMALL
qwen2_f16 --arch qwen2 --type f16 $SMALL
llama_bf16 --arch llama --type bf16 $SMALL
llama_q8_0 --arch llama --type q8_0 $SMALL
qwen2_q4_0 --arch qwen2 --type q4_0 --tied $SMALL
big_llama_q8_0 --arch llama --type q8_0 --n-embd 512 --n-head 8 --n-head-kv 2 --n-ff 1024 --n-vocab 2000 --n-layer 2
llama_q4_k --arch llama --type q4_k --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 300 --n-layer 2
qwen2_q6_k --arch qwen2 --type q6_k --tied --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 300 --n-layer 2
llama_q4_k_m --arch llama --type q4_k_m --n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 300 --n-layer 8
EOF2
# prefill through cuBLAS (FP16 tensor cores) for every type: the 32-token
# prompt forced onto that path, against the same NumPy reference (2e-2: FP16;
# test_logits' own chunked/re-decode comparisons run the int8 GEMV: 8e-2)
for name in llama_f16_tied llama_bf16 llama_q8_0 qwen2_q4_0 big_llama_q8_0 llama_q4_k qwen2_q6_k llama_q4_k_m; do
  if INGOT_CUDA_CUBLAS_MIN=16 INGOT_TEST_TOL=8e-2 INGOT_BACKEND=cuda "$B/tests/test_logits" "$W/$name.gguf" "$W/$name.cb.bin" > "$W/$name.cb.log" 2>&1 &&
     python3 tests/ref/reference.py "$W/$name.gguf" "$W/$name.cb.bin" --tol 2e-2 >> "$W/$name.cb.log" 2>&1; then
    echo "ok   cuBLAS prefill $name: $(grep -h 'max rel err' "$W/$name.cb.log" | tail -1)"
  else echo "FAIL cuBLAS prefill $name"; tail -5 "$W/$name.cb.log"; fails=$((fails+1)); fi
done
# the default Q8_0/Q4_0/Q4_K/Q6_K kernels quantize activations to int8 (dp4a; fused
# gate/up + SwiGLU): decode and multi-token chunks (cuBLAS off), at the CPU
# SIMD kernels' tolerance for 8-bit activations (8e-2)
for name in llama_q8_0 qwen2_q4_0 big_llama_q8_0 llama_q4_k qwen2_q6_k llama_q4_k_m; do
  if INGOT_CUDA_CUBLAS=0 INGOT_TEST_TOL=8e-2 INGOT_BACKEND=cuda "$B/tests/test_logits" "$W/$name.gguf" "$W/$name.i8.bin" > "$W/$name.i8.log" 2>&1 &&
     python3 tests/ref/reference.py "$W/$name.gguf" "$W/$name.i8.bin" --tol 8e-2 >> "$W/$name.i8.log" 2>&1; then
    echo "ok   int8 GEMV $name: $(grep -h 'max rel err' "$W/$name.i8.log" | tail -1)"
  else echo "FAIL int8 GEMV $name"; tail -5 "$W/$name.i8.log"; fails=$((fails+1)); fi
done
python3 tests/ref/kquant_crosscheck.py "$W/llama_q4_k.gguf"; python3 tests/ref/kquant_crosscheck.py "$W/qwen2_q6_k.gguf"
# Hugging Face folders (tokenizers carried in TOK_DIR) on CUDA against the transformers fixtures
T=${TOK_DIR:-.gpu-carry/tok}
if [ -d "$T/qwen3" ]; then
  for spec in qwen2-sharded:qwen3 llama-untied:llama3_1 phi3-fused:llama3_1; do
    k=${spec%%:*}
    python3 tests/hf/gen_hf.py "$k" "$T/${spec##*:}" "$W/hf/$k" >/dev/null
    if INGOT_CUDA_GEMV=1 INGOT_CUDA_CUBLAS=0 INGOT_CUDA_FLASH=0 INGOT_BACKEND=cuda python3 tests/hf/hf_check.py "$B/ingot" "$B/tests/test_logits" "$W/hf/$k" \
        tests/fixtures/hf/$k.logits.json > "$W/hf-$k.log" 2>&1; then echo "ok   CUDA $(tail -1 "$W/hf-$k.log")"
    else echo "FAIL CUDA hf $k"; cat "$W/hf-$k.log"; fails=$((fails+1)); fi
  done
  for spec in llama-mlx4:llama3_1 qwen2-mlx8:qwen3; do
    k=${spec%%:*}
    python3 tests/hf/gen_hf.py "$k" "$T/${spec##*:}" "$W/hf/$k" >/dev/null
    if INGOT_CUDA_GEMV=1 INGOT_CUDA_CUBLAS=0 INGOT_CUDA_FLASH=0 INGOT_BACKEND=cuda python3 tests/hf/mlx_check.py "$B/ingot" "$B/tests/test_logits" "$W/hf/$k" "$W/hf/$k.check" \
        > "$W/mlx-$k.log" 2>&1; then echo "ok   CUDA MLX $k: $(tail -1 "$W/mlx-$k.log")"
    else echo "FAIL CUDA MLX $k"; cat "$W/mlx-$k.log"; fails=$((fails+1)); fi
  done
fi
S=${STORIES_DIR:-../shared/models/stories260K}
if [ -f "$S/stories260K.gguf" ]; then
  "$B/ingot" run "$S/stories260K.gguf" "" -n 200 --temp 0 --ctx 256 --backend cuda > "$W/st.txt" 2>"$W/st.err"
  if cmp -s "$W/st.txt" "$S/stories260K.greedy200.expected.txt"; then echo "ok   stories260K greedy on CUDA: $(cat "$W/st.err")"
  else echo "FAIL stories greedy"; head -c 300 "$W/st.txt"; cat "$W/st.err"; fails=$((fails+1)); fi
else
  echo "note: $S/stories260K.gguf not found (STORIES_DIR); stories check not run"; ls -la "$S" .gpu-carry 2>&1 | head -5
fi
# graphs off vs on give the same tokens
for gflag in 0 1; do
  INGOT_CUDA_GRAPHS=$gflag "$B/ingot" run "$W/big_llama_q8_0.gguf" "hello" -n 40 --temp 0 --backend cuda > "$W/g$gflag.txt" 2>/dev/null
done
if cmp -s "$W/g0.txt" "$W/g1.txt" && [ -s "$W/g1.txt" ]; then echo "ok   CUDA graph replay gives the same tokens as plain launches"
else echo "FAIL graph replay differs"; fails=$((fails+1)); fi
echo "== op grid: every CUDA op vs the scalar reference (tests/ops/run_grid.sh)"
# default kernels (int8 activations for Q8_0/Q4_0, FP16 tensor cores from 16
# tokens: float weights 2e-3, prompt attention 4e-3), then the exact float
# kernels everywhere (1e-4)
export OPS_TOL_FLOAT=2e-3 OPS_TOL_ATTN=4e-3
if bash tests/ops/run_grid.sh "$B/ingot-gen" "$B/tests/test_backend_ops" "$W/ops" cuda > "$W/ops.log" 2>&1
then echo "ok   op grid (default kernels): $(tail -1 "$W/ops.log")"
else echo "FAIL op grid (default kernels)"; grep -E "FAIL|failed" "$W/ops.log" | head -20; fails=$((fails+1)); fi
if INGOT_CUDA_GEMV=1 INGOT_CUDA_CUBLAS=0 INGOT_CUDA_FLASH=0 OPS_TOL_QUANT=1e-4 OPS_TOL_FLOAT=1e-4 OPS_TOL_ATTN=1e-4 bash tests/ops/run_grid.sh "$B/ingot-gen" "$B/tests/test_backend_ops" "$W/ops-exact" cuda > "$W/ops-exact.log" 2>&1
then echo "ok   op grid (exact float kernels, 1e-4 for every type): $(tail -1 "$W/ops-exact.log")"
else echo "FAIL op grid (exact kernels)"; grep -E "FAIL|failed" "$W/ops-exact.log" | head -20; fails=$((fails+1)); fi
# the tensor-core GEMM (k_mmq) with int8 activations over every token count
# of the grid up to 64 (the default grid runs FP16 activations from 17)
if INGOT_CUDA_MMQ=64 INGOT_CUDA_MMQ_F16=0 bash tests/ops/run_grid.sh "$B/ingot-gen" "$B/tests/test_backend_ops" "$W/ops-mmq" cuda q8_0 q4_0 > "$W/ops-mmq.log" 2>&1
then echo "ok   op grid (int8 tensor-core GEMM up to 64 tokens): $(tail -1 "$W/ops-mmq.log")"
else echo "FAIL op grid (MMQ up to 64 tokens)"; grep -E "FAIL|failed" "$W/ops-mmq.log" | head -20; fails=$((fails+1)); fi
# the one-token kernels without their epilogues (separate norm and quantize launches)
if INGOT_CUDA_EPI=0 bash tests/ops/run_grid.sh "$B/ingot-gen" "$B/tests/test_backend_ops" "$W/ops-epi0" cuda q8_0 q4_0 q4_k > "$W/ops-epi0.log" 2>&1
then echo "ok   op grid (INGOT_CUDA_EPI=0): $(tail -1 "$W/ops-epi0.log")"
else echo "FAIL op grid (INGOT_CUDA_EPI=0)"; grep -E "FAIL|failed" "$W/ops-epi0.log" | head -20; fails=$((fails+1)); fi
for k in llama-mlx4 qwen2-mlx8; do
  [ -d "$W/hf/$k" ] || continue
  if "$B/tests/test_backend_ops" "$W/hf/$k" cuda > "$W/ops-$k.log" 2>&1; then echo "ok   op grid $k: $(tail -1 "$W/ops-$k.log")"
  else echo "FAIL op grid $k"; grep FAIL "$W/ops-$k.log" | head; fails=$((fails+1)); fi
done
echo "== compute-sanitizer memcheck"
INGOT_TEST_TOL=8e-2 INGOT_CUDA_CUBLAS=0 INGOT_BACKEND=cuda compute-sanitizer --tool memcheck --error-exitcode 9 "$B/tests/test_logits" "$W/qwen2_q4_0.gguf" "$W/cs.bin" > "$W/cs.log" 2>&1
rc=$?; echo "memcheck rc=$rc: $(grep -E 'ERROR SUMMARY' "$W/cs.log")"; [ $rc -eq 0 ] || fails=$((fails+1))
for f in q4_0-2 q4_k-0 f16-1; do
  compute-sanitizer --tool memcheck --error-exitcode 9 "$B/tests/test_backend_ops" "$W/ops/$f.gguf" cuda > "$W/cs-ops-$f.log" 2>&1
  rc=$?; echo "memcheck op test $f rc=$rc: $(grep -E 'ERROR SUMMARY' "$W/cs-ops-$f.log")"; [ $rc -eq 0 ] || fails=$((fails+1))
done
cp "$W"/*.log "$OUT/" 2>/dev/null
echo "$fails correctness failures"

echo "== benchmarks (PyTorch copy bw $bw GB/s)"
echo "| model | type | pp512 t/s | tg128 t/s | tg GB/s | copy bw (ingot bench) GB/s | % of copy bw |" | tee "$OUT/bench.md"
echo "|---|---|--:|--:|--:|--:|--:|" | tee -a "$OUT/bench.md"
for p in $presets; do
  for t in ${TYPES:-f16 q8_0 q4_0}; do
    f="$W/$p-$t.gguf"
    "$B/ingot-gen" --preset "$p" --type "$t" -o "$f" 2>/dev/null || continue
    "$B/ingot" bench "$f" --backend cuda -p 512 -n 128 -r 5 --json > "$W/b.json" 2>"$W/b.err" || { cat "$W/b.err"; continue; }
    python3 - "$W/b.json" "$p" <<'PY' | tee -a "$OUT/bench.md"
import json, sys
d = json.load(open(sys.argv[1])); g = d["tg"]
print("| %s | %s | %.0f | %.1f | %.0f | %.0f | %.0f%% |" % (sys.argv[2], d["weight_type"], d["pp"]["tps_median"],
      g["tps_median"], g["gbs"], d["bandwidth_gbs"], 100 * g["bw_fraction"]))
PY
    rm -f "$f"
  done
done
exit $fails
