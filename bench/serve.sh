#!/usr/bin/env bash
# Aggregate generation speed of `ingot serve` with 1, 4, 16 and 32 concurrent
# streaming clients (continuous batching), one table.
# usage: bench/serve.sh [BUILD_DIR] [MODEL] [MAX_TOKENS]
set -u
B=${1:-build} M=${2:-../shared/models/stories260K/stories260K.gguf} N=${3:-64}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$B/ingot" serve --port "$port" --parallel 32 --ctx 256 --model "$M" > /tmp/ingot-bench-serve.log 2>&1 & srv=$!
trap 'kill $srv 2>/dev/null' EXIT
for _ in $(seq 200); do curl -s "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.05; done
echo "model: $M, $N tokens per request, $(nproc) cores"
echo "| clients | aggregate tok/s | per client tok/s | mean time to first token (ms) |"
echo "|--:|--:|--:|--:|"
for c in 1 4 16 32; do
  python3 - "$port" "$M" "$N" "$c" <<'PY'
import http.client, json, sys, threading, time
port, model, n, c = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
res = []
def one(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"model": model, "prompt": "Once upon a time, client %d" % i, "max_tokens": n,
                       "temperature": 0, "stream": True, "stream_options": {"include_usage": True}})
    t0 = time.time()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    first, toks = None, 0
    for line in r:
        if line.startswith(b"data: {"):
            d = json.loads(line[6:])
            if first is None and d["choices"] and d["choices"][0].get("text"):
                first = time.time() - t0
            if d.get("usage"):
                toks = d["usage"]["completion_tokens"]
    res.append((toks, time.time() - t0, first or 0))
t0 = time.time()
th = [threading.Thread(target=one, args=(i,)) for i in range(c)]
[t.start() for t in th]
[t.join() for t in th]
wall = time.time() - t0
toks = sum(r[0] for r in res)
print("| %d | %.1f | %.1f | %.1f |" % (c, toks / wall, toks / wall / c, 1000 * sum(r[2] for r in res) / len(res)))
PY
done
