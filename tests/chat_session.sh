#!/usr/bin/env bash
# `ingot chat` / `ingot run` with a chat template, driven through stdin the
# way a user types: template applied, earlier turns taken from the KV cache,
# commands, a context that fills up, and a model without a template.
# usage: chat_session.sh INGOT HF_FOLDER STORIES_GGUF
set -u
ingot=$1 folder=$2 stories=$3
if [ ! -f "$folder/config.json" ]; then echo "SKIP: $folder not generated (needs the hf_qwen2-sharded test)"; exit 77; fi
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

err=$("$ingot" run "$folder" "Hello" --temp 0 -n 4 --verbose 2>&1 >/dev/null)
check "run applies the chat template" '[[ "$err" == *"(chat template)"* ]]'
err=$("$ingot" run "$folder" "Hello" --temp 0 -n 4 --verbose --raw 2>&1 >/dev/null)
check "--raw skips it" '[[ "$err" != *"(chat template)"* ]]'

out=$(printf 'Hello there\n/set temp 0\nHow are you?\n/nosuch\n/system Be brief.\n"""\nline one\nline two\n"""\n/clear\n/bye\nnever read\n' |
      "$ingot" chat "$folder" -n 6 --temp 0 --verbose 2>&1)
rc=$?
check "chat exits 0 on /bye" '[ $rc -eq 0 ]'
first=$(grep -o 'prompt [0-9]* tokens' <<<"$out" | head -1 | grep -o '[0-9]*')
cached=$(grep -o '[0-9]* from the cache' <<<"$out" | sed -n 2p | grep -o '^[0-9]*')
check "second turn reuses the first prompt from the cache ($cached >= $first - 1)" '[ -n "$cached" ] && [ "$cached" -ge $((first - 1)) ]'
check "/set answers" '[[ "$out" == *"set temp 0"* ]]'
check "unknown command is named" '[[ "$out" == *"unknown command '"'"'/nosuch'"'"'"* ]]'
check "/system answers" '[[ "$out" == *"Set the system message."* ]]'
check "multi-line message is one turn (3 turns)" '[ "$(grep -c "from the cache" <<<"$out")" -eq 3 ]'
check "/clear answers" '[[ "$out" == *"Cleared the conversation."* ]]'
check "nothing after /bye is read" '[ "$(grep -c "from the cache" <<<"$out")" -eq 3 ]'

long=$(printf 'word %.0s' $(seq 1 40))
out=$(printf '%s\n%s\n%s\n%s\n' "$long" "$long" "$long" "$long" | "$ingot" chat "$folder" -n 4 --temp 0 --ctx 128 2>&1)
rc=$?
check "a full context drops the oldest turns" '[ $rc -eq 0 ] && [[ "$out" == *"dropped the"*"oldest messages"* ]]'
out=$(printf '%s\n' "$(printf 'word %.0s' $(seq 1 300))" | "$ingot" chat "$folder" -n 4 --temp 0 --ctx 128 2>&1)
check "a message longer than the context is an error, not a crash" '[[ "$out" == *"but the context holds 128"* ]]'

if [ -f "$stories" ]; then
  out=$(echo hi | "$ingot" chat "$stories" 2>&1); rc=$?
  check "a model without a template cannot chat (clear error)" '[ $rc -ne 0 ] && [[ "$out" == *"has no chat template"* ]]'
fi
exit $fail
