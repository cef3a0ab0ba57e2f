#!/usr/bin/env bash
# ARM64 NEON kernels under qemu-user: cross-compile the kernel test
# (tests/test_kernels.c with the portable, AVX2 and NEON kernel files and the
# quantizers) for aarch64 and run it with qemu twice: with SDOT (qemu's
# default CPU has it) and with plain NEON (INGOT_CPU_ISA=neon), each against
# the portable C kernels and the dequantize-then-dot reference.
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (Debian); exits 77 (ctest: skipped) when they are missing.
# usage: tests/neon/run.sh SRC_DIR WORK_DIR
set -u
src=${1:-.} work=${2:-/tmp/ingot-neon}
cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64}
if ! command -v "$cc" >/dev/null || ! command -v "$qemu" >/dev/null; then
  echo "SKIP: $cc or $qemu not installed (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
  exit 77
fi
mkdir -p "$work"
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -static -D_GNU_SOURCE -I "$src/src" -I "$src/include" -I "$src/tests" \
  "$src/tests/test_kernels.c" "$src"/src/backend/cpu/kernels_{c,avx2,neon}.c "$src"/src/quant/*.c "$src"/src/core/util.c "$src"/src/core/pool.c -lm -lpthread \
  -o "$work/test_kernels_arm64" || { echo "FAIL: cross compile"; exit 1; }
fail=0
for isa in default neon; do
  if [ "$isa" = neon ]; then out=$(INGOT_CPU_ISA=neon "$qemu" "$work/test_kernels_arm64" 2>&1); rc=$?
  else out=$("$qemu" "$work/test_kernels_arm64" 2>&1); rc=$?; fi
  echo "$out" | grep -E "^kernels|FAIL" | head -20
  echo "$out" | grep -q "thread pool checked" || { echo "FAIL: the thread pool was not checked"; fail=1; }
  [ $rc -eq 0 ] || { echo "FAIL: arm64 kernels ($isa) rc=$rc"; fail=1; }
done
# both SIMD tables must have been exercised, not only the C kernels
echo "$out" | grep -q "kernels: neon vs c" || { echo "FAIL: plain NEON kernels were not tested"; fail=1; }
exit $fail
