#!/usr/bin/env bash
# Whole models on ARM64 under qemu-user: cross-build ingot and test_logits
# for aarch64 (CMake, tests/neon/aarch64.cmake), then on the emulated CPU,
# with the default kernels (NEON + SDOT) and with plain NEON
# (INGOT_CPU_ISA=neon):
#   - random-weight models of every weight type against the NumPy reference
#     (tests/ref/ref_check.sh, the SIMD tolerances of the x86 runs), with
#     test_logits' multi-sequence and sampling checks;
#   - the real stories260K model, greedy, byte for byte (tests/stories_greedy.sh).
# Needs gcc-aarch64-linux-gnu, qemu-user and the arm64 -dev packages of the
# libraries (dpkg --add-architecture arm64; libpcre2-dev:arm64 ...; see
# .ci/run); exits 77 (ctest: skipped) when they are missing.
# usage: tests/neon/model.sh SRC_DIR WORK_DIR PYTHON MODELS_DIR INGOT_GEN (a host build)
set -u
src=$1 work=$2 py=$3 models=$4 gen=$5
qemu=${QEMU_AARCH64:-qemu-aarch64}
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v "$qemu" >/dev/null ||
   [ ! -f /usr/lib/aarch64-linux-gnu/pkgconfig/libcjson.pc ] || [ ! -f /usr/lib/aarch64-linux-gnu/pkgconfig/libedit.pc ]; then
  echo "SKIP: the aarch64 cross compiler, $qemu or the arm64 -dev libraries are missing (see .ci/run)"
  exit 77
fi
mkdir -p "$work"
# gcc 12's aarch64 loop vectorizer crashes on a reduction in test_logits.c
# (internal compiler error); the kernels are NEON intrinsics either way
cmake -S "$src" -B "$work/build" -DCMAKE_TOOLCHAIN_FILE="$src/tests/neon/aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-fno-tree-loop-vectorize > "$work/cmake.log" 2>&1 ||
  { echo "FAIL: cmake"; tail -20 "$work/cmake.log"; exit 1; }
cmake --build "$work/build" --target test_logits ingot-cli -j "$(nproc)" > "$work/build.log" 2>&1 ||
  { echo "FAIL: cross build"; grep -E "error" "$work/build.log" | head; exit 1; }
file "$work/build/ingot" 2>/dev/null | grep -q aarch64 || { echo "FAIL: not an aarch64 binary"; exit 1; }
# wrappers: run the arm64 binaries through qemu with the arm64 libraries, on
# one core, so one thread (and INGOT_TEST_THREADS=1): Debian 12's qemu-user
# 7.2 hangs in the dynamic glibc's pthread_create (a plain create + join
# hangs too; static binaries do not); the thread pool itself runs under qemu
# in neon_kernels' static build (tests/test_kernels.c)
for b in ingot tests/test_logits; do
  printf '#!/bin/sh\nexec taskset -c 0 %s -L /usr/aarch64-linux-gnu %s "$@"\n' "$qemu" "$work/build/$b" > "$work/$(basename "$b").sh"
  chmod +x "$work/$(basename "$b").sh"
done
fail=0
SMALL="--n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 96 --n-vocab 300 --n-layer 2"
K="--n-embd 256 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 300 --n-layer 2"
for isa in default neon; do
  [ "$isa" = neon ] && export INGOT_CPU_ISA=neon || unset INGOT_CPU_ISA
  while read -r name tol flags; do
    if out=$(INGOT_BACKEND=cpu INGOT_TEST_THREADS=1 REF_TOL=$tol bash "$src/tests/ref/ref_check.sh" "$gen" "$work/test_logits.sh" "$py" \
        "$work/ref" "$name" $flags 2>&1); then
      echo "ok   arm64 ($isa) $name: $(echo "$out" | grep -h 'max rel err' | tail -1)"
    else
      echo "FAIL arm64 ($isa) $name"; echo "$out" | tail -8; fail=1
    fi
  done <<LIST
llama_f32 1e-4 --arch llama --type f32 $SMALL
llama_f16_tied 1e-4 --arch llama --type f16 --tied $SMALL
llama_bf16 1e-4 --arch llama --type bf16 $SMALL
qwen2_f16 1e-4 --arch qwen2 --type f16 $SMALL
llama_q8_0 8e-2 --arch llama --type q8_0 $SMALL
qwen2_q4_0 8e-2 --arch qwen2 --type q4_0 --tied $SMALL
llama_q4_k 8e-2 --arch llama --type q4_k $K
qwen2_q6_k 8e-2 --arch qwen2 --type q6_k --tied $K
LIST
  if out=$(INGOT_BACKEND=cpu bash "$src/tests/stories_greedy.sh" "$work/ingot.sh" "$models" 2>&1); then
    echo "ok   arm64 ($isa) stories260K greedy: $(echo "$out" | head -1)"
  else
    echo "FAIL arm64 ($isa) stories260K greedy"; echo "$out" | tail -8; fail=1
  fi
  # the run must have used the SIMD kernels it was meant to
  isa_seen=$("$work/ingot.sh" run "$models/stories260K/stories260K.gguf" "" -n 1 --temp 0 --verbose 2>&1 | grep -o 'cpu ([a-z+]*)' | head -1)
  echo "     backend: $isa_seen"
  case "$isa:$isa_seen" in
    default:*dotprod*|neon:"cpu (neon)") ;;
    *) echo "FAIL: INGOT_CPU_ISA=$isa ran $isa_seen"; fail=1 ;;
  esac
done
exit $fail
