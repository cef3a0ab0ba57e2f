# gen_once.sh - sourced by hf_test.sh and mlx_test.sh: skip without NumPy or
# the tokenizer, and write the folder $work/$kind with gen_hf.py once.
# expects: py work kind tok here
if ! "$py" -c 'import numpy' 2>/dev/null; then echo "SKIP: $py has no numpy"; exit 77; fi
if [ ! -f "$tok/tokenizer.json" ]; then echo "SKIP: $tok/tokenizer.json not found"; exit 77; fi
mkdir -p "$work"
if [ ! -f "$work/$kind/config.json" ]; then
  rm -rf "$work/$kind.tmp"
  "$py" "$here/gen_hf.py" "$kind" "$tok" "$work/$kind.tmp" && mv "$work/$kind.tmp" "$work/$kind" || exit 1
fi
