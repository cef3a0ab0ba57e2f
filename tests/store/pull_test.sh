#!/usr/bin/env bash
# ingot pull / list / rm / import and name resolution against a mock hub on
# 127.0.0.1 (tests/store/mock_hub.py) that misbehaves on demand: every case
# ends with a verified model or a clear error and a resumable partial file.
# usage: pull_test.sh INGOT PYTHON MODELS_DIR HF_FOLDER WORKDIR
set -u
ingot=$1 py=$2 models=$3 hf=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
stories=$models/stories260K/stories260K.gguf
[ -f "$stories" ] || { echo "SKIP: $stories not found"; exit 77; }
[ -f "$hf/config.json" ] || { echo "SKIP: $hf not generated (needs the hf_qwen2-sharded test)"; exit 77; }
rm -rf "$work"; mkdir -p "$work/root/test/stories-GGUF" "$work/root/test/tiny-qwen2" "$work/root/other/tiny-qwen2" \
  "$work/root/gated/stories-GGUF"
R=$work/root
cp "$stories" "$R/test/stories-GGUF/stories260K-Q4_K_M.gguf"
cp "$stories" "$R/test/stories-GGUF/stories260K-F32.gguf"        # same bytes: one blob
echo "# stories" > "$R/test/stories-GGUF/README.md"
cp "$stories" "$R/gated/stories-GGUF/stories260K-Q8_0.gguf"
cp "$hf"/*.json "$hf"/*.safetensors "$R/test/tiny-qwen2/"
cp "$stories" "$R/other/tiny-qwen2/tiny-Q4_K_M.gguf"
echo '{}' > "$R/_faults.json"
"$py" "$here/mock_hub.py" "$R" "$work/port" & srv=$!
trap 'kill $srv 2>/dev/null' EXIT
for _ in $(seq 50); do [ -f "$work/port" ] && break; sleep 0.1; done
export HF_ENDPOINT=http://127.0.0.1:$(cat "$work/port") HF_HUB_CACHE=$work/cache INGOT_HOME=$work/home
unset HF_TOKEN HF_HOME
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; echo "     $out" | head -5; fail=1; fi; }
faults() { echo "$1" > "$R/_faults.json"; : > "$R/_requests.log"; }
C=$work/cache/models--test--stories-GGUF

out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
commit=$(cat "$C/refs/main" 2>/dev/null)
link=$(readlink "$C/snapshots/$commit/stories260K-Q4_K_M.gguf" 2>/dev/null)
sha=$(sha256sum "$stories" | cut -d' ' -f1)
check "pull ORG/NAME picks the Q4_K_M GGUF and lays out the HF cache" \
  '[ $rc -eq 0 ] && [ "$link" = "../../blobs/$sha" ] && cmp -s "$C/blobs/$sha" "$stories" && [ ! -e "$C/snapshots/$commit/README.md" ]'
"$ingot" run "$stories" "" -n 30 --temp 0 > "$work/want.txt" 2>/dev/null
"$ingot" run test/stories-GGUF "" -n 30 --temp 0 > "$work/got.txt" 2>/dev/null
check "the pulled model runs by name, same text as the original file" 'cmp -s "$work/want.txt" "$work/got.txt"'
out=$("$ingot" pull test/stories-GGUF:F32 2>&1); rc=$?
check "pull ORG/NAME:QUANT picks that file; identical bytes share one blob" \
  '[ $rc -eq 0 ] && [ -L "$C/snapshots/$commit/stories260K-F32.gguf" ] && [ $(ls "$C/blobs" | wc -l) -eq 1 ]'
out=$("$ingot" pull test/stories-GGUF:Q9 2>&1); rc=$?
check "an unknown quant lists the files" '[ $rc -ne 0 ] && [[ "$out" == *"Q9"*"stories260K-F32.gguf"* ]]'

rm -rf "$C"; faults '{"drop_after": 200000}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a dropped connection is resumed with a Range request" \
  '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories" && grep -q "bytes=200000-" "$R/_requests.log"'
rm -rf "$C"; faults '{"fail_times": 2}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "500 then 200: retried with backoff" '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories"'
rm -rf "$C"; faults '{"corrupt_times": 1}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a corrupted body fails the sha256 check and is fetched again" '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories"'
rm -rf "$C"; faults '{"corrupt_times": 99}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "always corrupted: a checksum error, nothing in place" \
  '[ $rc -ne 0 ] && [[ "$out" == *"checksum"* ]] && [ ! -e "$C/blobs/$sha" ] && [ ! -e "$C/refs/main" ]'
rm -rf "$C"; faults '{"ignore_range": true, "drop_after": 100000}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a server that ignores Range: the file restarts from 0 and still verifies" '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories"'

faults '{"auth": {"gated/stories-GGUF": "sekret"}}'
out=$("$ingot" pull gated/stories-GGUF 2>&1); rc=$?
check "a gated repo without a token: access denied, says HF_TOKEN" '[ $rc -ne 0 ] && [[ "$out" == *"HF_TOKEN"* ]]'
out=$(HF_TOKEN=wrong "$ingot" pull gated/stories-GGUF 2>&1); rc=$?
check "a refused token is named" '[ $rc -ne 0 ] && [[ "$out" == *"refused"* ]]'
out=$(HF_TOKEN=sekret "$ingot" pull gated/stories-GGUF:Q8_0 2>&1); rc=$?
check "with HF_TOKEN the gated repo downloads" '[ $rc -eq 0 ]'
out=$("$ingot" pull test/no-such-repo 2>&1); rc=$?
check "an unknown repo: not found" '[ $rc -ne 0 ] && [[ "$out" == *"not found"* ]]'

rm -rf "$C"; faults '{"rate": 300000}'
"$ingot" pull test/stories-GGUF > "$work/int.out" 2>&1 & p=$!
sleep 0.6; kill -INT $p; wait $p; rc=$?
part=$(ls "$C"/blobs/*.incomplete 2>/dev/null | head -1)
psize=$(stat -c %s "$part" 2>/dev/null || echo 0)
out=$(cat "$work/int.out")
check "Ctrl-C stops the pull with exit 130 and keeps a partial file ($psize bytes)" \
  '[ $rc -eq 130 ] && [ "$psize" -gt 0 ] && [[ "$out" == *"resume"* ]] && [ ! -e "$C/blobs/$sha" ]'
faults '{}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "pulling again resumes from the partial file" \
  '[ $rc -eq 0 ] && grep -q "bytes=$psize-" "$R/_requests.log" && cmp -s "$C/blobs/$sha" "$stories"'

# large files come down as parallel ranges (threshold lowered for the test)
rm -rf "$C"; faults '{}'
out=$(INGOT_PULL_CHUNK_MIN=100000 "$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a large file downloads as 4 parallel ranges and verifies" \
  '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories" && [ $(grep -c "/cdn/.*bytes=" "$R/_requests.log") -eq 4 ]'
rm -rf "$C"; faults '{"drop_after": 50000}'
out=$(INGOT_PULL_CHUNK_MIN=100000 "$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a dropped range is resumed on its own" '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories" && [ $(grep -c "/cdn/" "$R/_requests.log") -ge 5 ]'
rm -rf "$C"; faults '{"rate": 200000}'
INGOT_PULL_CHUNK_MIN=100000 "$ingot" pull test/stories-GGUF > "$work/int2.out" 2>&1 & p=$!
sleep 0.7; kill -INT $p; wait $p; rc=$?
check "Ctrl-C during parallel ranges keeps the partial file and its range record" \
  '[ $rc -eq 130 ] && ls "$C"/blobs/*.incomplete.chunks >/dev/null 2>&1'
faults '{}'
out=$(INGOT_PULL_CHUNK_MIN=100000 "$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "pulling again resumes every range where it stopped" \
  '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories" && ! grep -q "bytes=0-" "$R/_requests.log" && ! ls "$C"/blobs/*.chunks >/dev/null 2>&1'
rm -rf "$C"; faults '{"ignore_range": true}'
out=$(INGOT_PULL_CHUNK_MIN=100000 "$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a server without ranges: one stream instead" '[ $rc -eq 0 ] && cmp -s "$C/blobs/$sha" "$stories"'
faults '{}'

out=$( (trap "" XFSZ; ulimit -f 200; "$ingot" pull test/tiny-qwen2) 2>&1); rc=$?
check "a write failure (file size limit, like a full disk) is a clear error" '[ $rc -ne 0 ] && [[ "$out" == *"writing"* ]]'
out=$("$ingot" pull test/tiny-qwen2 2>&1); rc=$?
Q=$work/cache/models--test--tiny-qwen2
check "pull a sharded safetensors folder (config, tokenizer, shards, index)" \
  '[ $rc -eq 0 ] && [ $(ls "$Q/snapshots/"*/ | wc -l) -eq 6 ]'
out=$("$ingot" show tiny-qwen2 2>&1); rc=$?
check "a short name resolves to the one cached repo of that name" '[ $rc -eq 0 ] && [[ "$out" == *"qwen2"* ]]'
out=$("$ingot" pull other/tiny-qwen2 2>&1)
out=$("$ingot" show tiny-qwen2 2>&1); rc=$?
check "an ambiguous short name lists the candidates" '[ $rc -ne 0 ] && [[ "$out" == *"other/tiny-qwen2"*"test/tiny-qwen2"* || "$out" == *"test/tiny-qwen2"*"other/tiny-qwen2"* ]]'
out=$("$ingot" list 2>&1); rc=$?
check "list shows GGUF and safetensors models" '[ $rc -eq 0 ] && [[ "$out" == *"test/stories-GGUF"*"gguf"* ]] && [[ "$out" == *"test/tiny-qwen2"*"safetensors"*"qwen2"* ]]'
out=$("$ingot" list --json 2>&1)
check "list --json is JSON with the fields" '"$py" -c "import json,sys; d=json.loads(sys.argv[1]); assert any(e[\"name\"]==\"test/tiny-qwen2\" and e[\"format\"]==\"safetensors\" and e[\"parameters\"]>0 for e in d)" "$out"'

faults '{"evil_path": true}'
out=$("$ingot" pull test/stories-GGUF 2>&1); rc=$?
check "a file list with ../ in a path is refused" '[ $rc -ne 0 ] && [[ "$out" == *"unsafe path"* ]]'
faults '{}'
out=$("$ingot" pull ../etc/passwd 2>&1); rc=$?
check "a name that escapes the cache is rejected" '[ $rc -ne 0 ] && [[ "$out" == *"not a model to pull"* ]]'
out=$("$ingot" run no-such-model "x" 2>&1); rc=$?
check "an unknown name is a clear error" '[ $rc -ne 0 ] && [[ "$out" == *"no model '"'"'no-such-model'"'"'"* ]]'

out=$("$ingot" import "$stories" mystories 2>&1) && "$ingot" run mystories "" -n 30 --temp 0 > "$work/imp.txt" 2>/dev/null
check "import gives a local file a name" 'cmp -s "$work/want.txt" "$work/imp.txt"'
out=$("$ingot" rm mystories 2>&1); rc=$?
check "rm of an imported name forgets it and keeps the file" '[ $rc -eq 0 ] && [ -f "$stories" ] && ! "$ingot" show mystories >/dev/null 2>&1'

snap=$(ls -d "$Q"/snapshots/*)
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n' > "$work/ptr"
rm "$snap/model-00002-of-00002.safetensors"; cp "$work/ptr" "$snap/model-00002-of-00002.safetensors"
ln -sf ../../blobs/nonexistent "$snap/extra.json"
echo partial > "$Q/blobs/abc.incomplete"
out=$("$ingot" list --health 2>&1); rc=$?
check "list --health finds the LFS pointer, the broken link and the partial download" \
  '[ $rc -eq 1 ] && [[ "$out" == *"LFS pointer"* ]] && [[ "$out" == *"broken link"* ]] && [[ "$out" == *"partial download"* ]]'

out=$("$ingot" rm test/stories-GGUF 2>&1 </dev/null); rc=$?
check "rm without --force and without a terminal refuses" '[ $rc -ne 0 ] && [ -d "$C" ]'
out=$("$ingot" rm test/stories-GGUF --force 2>&1); rc=$?
check "rm --force removes the model" '[ $rc -eq 0 ] && [ ! -e "$C" ] && ! "$ingot" list | grep -q "test/stories-GGUF"'
exit $fail
