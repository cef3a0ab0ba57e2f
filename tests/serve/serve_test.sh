#!/usr/bin/env bash
# `ingot serve` driven by the official npm clients (openai, ollama) and curl:
# both APIs streaming and not, 32 concurrent clients, bad input, a client
# that leaves, a full queue, API keys, slow clients.
# usage: serve_test.sh INGOT MODELS_DIR WORKDIR PYTHON
set -u
ingot=$1 models=$2 work=$3 py=$4
here=$(cd "$(dirname "$0")" && pwd)
M=$models/stories260K/stories260K.gguf
[ -f "$M" ] || { echo "SKIP: $M not found"; exit 77; }
mkdir -p "$work"
if [ ! -d "$work/node_modules/openai" ] || [ ! -d "$work/node_modules/ollama" ]; then
  if ! command -v npm >/dev/null || ! (cd "$work" && npm install --silent --no-audit --no-fund openai@4 ollama@0.5 >/dev/null 2>&1); then
    echo "SKIP: npm could not install the openai and ollama packages"; exit 77
  fi
fi
cp "$here/clients.mjs" "$work/clients.mjs"
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start ARGS...: a server on a free port, waits until it answers
  port=$(free_port)
  "$ingot" serve --port "$port" "$@" > "$work/serve.log" 2>&1 & srv=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "FAIL server did not start"; cat "$work/serve.log"; exit 1
}
stop() { kill $srv 2>/dev/null; wait $srv 2>/dev/null; }
trap 'kill $srv 2>/dev/null' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; echo "     ${out:0:400}"; fail=1; fi; }
post() { curl -s -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$port$1" -H 'Content-Type: application/json' --data-binary "$2"; }

start --parallel 8 --model "$M"
(cd "$work" && node clients.mjs "http://127.0.0.1:$port" "$M") || fail=1

B=http://127.0.0.1:$port
code=$(post /v1/chat/completions '{"model": "x", "messages": [') ; out=$(cat "$work/body")
check "malformed JSON: 400 in OpenAI's error shape" '[ $code = 400 ] && [[ "$out" == *"\"error\":{\"message\":\"the body is not valid JSON\""* ]]'
code=$(post /v1/chat/completions "{\"model\": \"$M\", \"messages\": \"hi\"}"); out=$(cat "$work/body")
check "messages of the wrong type: 400" '[ $code = 400 ] && [[ "$out" == *"messages"* ]]'
code=$(post /v1/chat/completions "{\"model\": \"$M\"}"); out=$(cat "$work/body")
check "missing messages: 400" '[ $code = 400 ] && [[ "$out" == *"messages"* ]]'
code=$(post /v1/chat/completions "{\"model\": \"$M\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temprature\": 1}"); out=$(cat "$work/body")
check "an unknown field is named: 400" '[ $code = 400 ] && [[ "$out" == *"unknown field '"'"'temprature'"'"'"* ]]'
code=$(post /v1/chat/completions "{\"model\": \"$M\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": \"hot\"}"); out=$(cat "$work/body")
check "a wrong type is named: 400" '[ $code = 400 ] && [[ "$out" == *"temperature"*"number"* ]]'
code=$(post /v1/chat/completions "{\"model\": \"$M\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": -5}"); out=$(cat "$work/body")
check "negative max_tokens: 400" '[ $code = 400 ] && [[ "$out" == *"max_tokens"* ]]'
printf '{"model": "%s", "messages": [{"role": "user", "content": "bad \xff\xfe utf8"}]}' "$M" > "$work/bad_utf8.json"
code=$(curl -s -o "$work/body" -w '%{http_code}' "$B/v1/chat/completions" --data-binary @"$work/bad_utf8.json"); out=$(cat "$work/body")
check "invalid UTF-8: 400" '[ $code = 400 ] && [[ "$out" == *"UTF-8"* ]]'
head -c 9000000 /dev/zero | tr '\0' 'a' > "$work/huge.json"
code=$(curl -s -o "$work/body" -w '%{http_code}' "$B/v1/chat/completions" --data-binary @"$work/huge.json"); out=$(cat "$work/body")
check "a huge body: 413" '[ $code = 413 ]'
long=$(printf 'word %.0s' $(seq 1 400))
code=$(post /v1/completions "{\"model\": \"$M\", \"prompt\": \"$long\", \"max_tokens\": 10}"); out=$(cat "$work/body")
check "a prompt over the context: 400 saying so" '[ $code = 400 ] && [[ "$out" == *"context holds"* ]]'
code=$(post /v1/completions "{\"model\": \"$M\", \"prompt\": \"Once\", \"max_tokens\": 1000}"); out=$(cat "$work/body")
check "prompt + max_tokens over the context: 400" '[ $code = 400 ] && [[ "$out" == *"exceed the context"* ]]'
code=$(post /api/generate '{"model": 5}'); out=$(cat "$work/body")
check "Ollama errors use Ollama's shape" '[ $code = 400 ] && [[ "$out" == "{\"error\":\""* ]]'
code=$(post /api/generate "{\"model\": \"$M\", \"prompt\": \"x\", \"options\": {\"num_predictt\": 3}}"); out=$(cat "$work/body")
check "an unknown Ollama option is named: 400" '[ $code = 400 ] && [[ "$out" == *"num_predictt"* ]]'
# JSON mode: the text starts an object and, when the model ends it, parses
ok_json=1
for seed in 1 2 3 4; do
  post /v1/chat/completions "{\"model\": \"$M\", \"messages\": [{\"role\": \"user\", \"content\": \"JSON please\"}], \"max_tokens\": 100, \"seed\": $seed, \"temperature\": 1, \"response_format\": {\"type\": \"json_object\"}}" >/dev/null
  "$py" -c 'import json,sys; c=json.load(open(sys.argv[1]))["choices"][0]; t=c["message"]["content"]; assert t.lstrip().startswith("{"), t; c["finish_reason"]=="stop" and json.loads(t)' "$work/body" || ok_json=0
done
out=$(cat "$work/body"); check "response_format json_object: output is (the start of) one JSON object" '[ $ok_json = 1 ]'
code=$(post /v1/chat/completions "{\"model\": \"$M\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": {\"type\": \"json_schema\"}}"); out=$(cat "$work/body")
check "an unsupported response_format is named: 400" '[ $code = 400 ] && [[ "$out" == *"json_schema"* ]]'
# keep_alive 0: the model unloads after the request
post /api/generate "{\"model\": \"$M\", \"prompt\": \"Once\", \"stream\": false, \"keep_alive\": 0, \"options\": {\"num_predict\": 2}}" >/dev/null
for _ in $(seq 40); do out=$(curl -s "$B/api/ps"); [ "$out" = '{"models":[]}' ] && break; sleep 0.1; done
check "keep_alive 0 unloads the model after the request" '[ "$out" = "{\"models\":[]}" ]'
out=$(curl -s "$B/api/tags"); check "GET /api/tags is JSON with models" '[[ "$out" == "{\"models\":["* ]]'
code=$(post /api/show "{\"model\": \"$M\"}"); out=$(cat "$work/body")
check "POST /api/show gives details and model_info" '[ $code = 200 ] && [[ "$out" == *"model_info"* ]] && [[ "$out" == *"llama"* ]]'
out=$(curl -s "$B/metrics"); check "GET /metrics is Prometheus text" '[[ "$out" == *"ingot_generated_tokens_total"* ]] && [[ "$out" == *"ingot_time_to_first_token_seconds_count"* ]]'
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/v2/nothing"); check "an unknown endpoint: 404" '[ $code = 404 ]'

# a client that leaves: its sequence is freed at once
curl -sN "$B/v1/completions" -d "{\"model\": \"$M\", \"prompt\": \"Once\", \"max_tokens\": 120, \"stream\": true}" > /dev/null & c=$!
sleep 0.3; kill $c 2>/dev/null; wait $c 2>/dev/null; sleep 0.5
out=$(curl -s "$B/metrics" | grep '^ingot_active_sequences')
check "a client that disconnects stops its generation ($out)" '[[ "$out" == "ingot_active_sequences 0" ]]'
# the server still serves
code=$(post /v1/completions "{\"model\": \"$M\", \"prompt\": \"Once\", \"max_tokens\": 4}")
check "and keeps serving" '[ $code = 200 ]'
# a slow client (headers never finished) is dropped after --timeout; others go on
stop
start --parallel 1 --queue 1 --timeout 2 --api-key sekret --cors-origin http://example.com
B=http://127.0.0.1:$port
code=$(post /v1/completions "{\"model\": \"$M\", \"prompt\": \"Once\", \"max_tokens\": 4}"); out=$(cat "$work/body")
check "--api-key: 401 without the key" '[ $code = 401 ]'
code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer sekret" "$B/v1/completions" -d "{\"model\": \"$M\", \"prompt\": \"Once\", \"max_tokens\": 4}")
check "--api-key: 200 with it" '[ $code = 200 ]'
hdr=$(curl -s -i -X OPTIONS "$B/v1/completions" | tr -d '\r')
check "--cors-origin answers preflight with the origin" '[[ "$hdr" == *"Access-Control-Allow-Origin: http://example.com"* ]]'
"$py" - "$port" <<'PY' & slow=$!
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.send(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
t = time.time()
try:
    s.settimeout(10)
    closed = s.recv(1) == b""
except OSError:
    closed = True
sys.exit(0 if closed and time.time() - t < 6 else 1)
PY
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer sekret" "$B/health")
check "a slow client does not block others" '[ $code = 200 ]'
wait $slow; rc=$?
check "a slow client is disconnected after --timeout" '[ $rc -eq 0 ]'
# --parallel 1 --queue 1: the third concurrent request gets 503 + Retry-After
pids=""
for i in 1 2 3; do
  curl -s -D "$work/h$i" -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer sekret" "$B/v1/completions" \
    -d "{\"model\": \"$M\", \"prompt\": \"Once\", \"max_tokens\": 100}" > "$work/code$i" & pids="$pids $!"; done
wait $pids
codes=$(cat "$work"/code* | sort | tr '\n' ' ')
check "a full queue answers 503 with Retry-After ($codes)" '[[ "$codes" == *"503"* ]] && grep -qi "Retry-After" "$work"/h*'
stop
exit $fail
