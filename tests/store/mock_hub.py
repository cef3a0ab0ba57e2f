#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub on 127.0.0.1, for `ingot pull` tests.

Serves ROOT/ORG/NAME/** as model repos:
  GET /api/models/ORG/NAME                 {"id", "sha", "siblings"}
  GET /api/models/ORG/NAME/tree/REV        [{"type", "path", "size", "oid", "lfs"?}]
  GET /ORG/NAME/resolve/REV/PATH           small files directly; LFS files
                                           (.gguf, .safetensors, > 1 MiB) by a
                                           302 to /cdn/SHA256 (as the hub does)
with ETag / X-Linked-Etag / X-Linked-Size / X-Repo-Commit and Range support.

Misbehaves on demand, as ROOT/_faults.json says (read at every request):
  {"drop_after": N}      close the connection after N body bytes, "drop_times" times (default 1)
  {"fail_times": K}      answer 500 to the first K file requests
  {"corrupt_times": K}   flip a byte in the first K file bodies
  {"auth": {"ORG/NAME": "TOKEN"}}   401 without "Authorization: Bearer TOKEN"
  {"rate": BYTES_PER_S}  send file bodies slowly
  {"ignore_range": true} answer 200 with the whole file to Range requests
  {"evil_path": true}    list a file named "../escape.txt" in trees
Every request is logged to ROOT/_requests.log ("METHOD PATH RANGE").

usage: mock_hub.py ROOT PORT_FILE
"""
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

ROOT = sys.argv[1]
LOCK = threading.Lock()
COUNTS = {"fail": 0, "corrupt": 0, "drop": 0}


LAST = {"text": None}


def faults():
    """The current faults; counters restart whenever the file changes."""
    try:
        text = open(os.path.join(ROOT, "_faults.json")).read()
    except OSError:
        text = "{}"
    with LOCK:
        if text != LAST["text"]:
            LAST["text"] = text
            for k in COUNTS:
                COUNTS[k] = 0
    try:
        return json.loads(text)
    except ValueError:
        return {}


def repo_files(repo):
    base = os.path.join(ROOT, repo)
    out = []
    for d, _, fs in os.walk(base):
        for f in fs:
            out.append(os.path.relpath(os.path.join(d, f), base))
    return sorted(out)


def is_lfs(path, size):
    return path.endswith((".gguf", ".safetensors")) or size > (1 << 20)


def info(repo, path):
    data = open(os.path.join(ROOT, repo, path), "rb").read()
    git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    sha = hashlib.sha256(data).hexdigest()
    return data, git, sha


def commit(repo):
    h = hashlib.sha1()
    for p in repo_files(repo):
        h.update(p.encode() + info(repo, p)[1].encode())
    return h.hexdigest()


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, msg):
        body = json.dumps({"error": msg}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self, repo, fx):
        need = fx.get("auth", {}).get(repo)
        return not need or self.headers.get("Authorization") == "Bearer " + need

    def do_GET(self):
        fx = faults()
        with open(os.path.join(ROOT, "_requests.log"), "a") as log:
            log.write("GET %s %s\n" % (self.path, self.headers.get("Range", "-")))
        u = urlparse(self.path)
        parts = [unquote(p) for p in u.path.split("/") if p]
        if len(parts) >= 4 and parts[0] == "api" and parts[1] == "models":
            repo = parts[2] + "/" + parts[3]
            if not os.path.isdir(os.path.join(ROOT, repo)):
                return self.error(404, "Repository not found")
            if not self.authorized(repo, fx):
                return self.error(401, "Access to this repo is restricted")
            if len(parts) == 4:
                return self.send_json({"id": repo, "sha": commit(repo),
                                       "siblings": [{"rfilename": p} for p in repo_files(repo)]})
            if len(parts) >= 6 and parts[4] == "tree":
                tree = []
                for p in repo_files(repo):
                    data, git, sha = info(repo, p)
                    e = {"type": "file", "path": p, "size": len(data), "oid": git}
                    if is_lfs(p, len(data)):
                        e["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
                    tree.append(e)
                if fx.get("evil_path"):
                    tree.append({"type": "file", "path": "../escape.txt", "size": 3, "oid": "0" * 40})
                return self.send_json(tree)
            return self.error(404, "unknown API")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = parts[0] + "/" + parts[1]
            path = "/".join(parts[4:])
            full = os.path.join(ROOT, repo, path)
            if not os.path.isfile(full):
                return self.error(404, "Entry not found")
            if not self.authorized(repo, fx):
                return self.error(401, "Access to this repo is restricted")
            data, git, sha = info(repo, path)
            if is_lfs(path, len(data)):
                self.send_response(302)
                self.send_header("Location", "/cdn/%s?repo=%s&path=%s" % (sha, repo, path))
                self.send_header("X-Linked-Etag", '"%s"' % sha)
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("X-Repo-Commit", commit(repo))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.send_file(data, '"%s"' % git, fx)
        if len(parts) == 2 and parts[0] == "cdn":
            q = dict(kv.split("=", 1) for kv in u.query.split("&") if "=" in kv)
            data, git, sha = info(q["repo"], q["path"])
            return self.send_file(data, '"%s"' % sha, fx)
        return self.error(404, "not found")

    def send_file(self, data, etag, fx):
        with LOCK:
            if COUNTS["fail"] < fx.get("fail_times", 0):
                COUNTS["fail"] += 1
                return self.error(500, "Internal Server Error")
            corrupt = COUNTS["corrupt"] < fx.get("corrupt_times", 0)
            if corrupt:
                COUNTS["corrupt"] += 1
            drop = "drop_after" in fx and COUNTS["drop"] < fx.get("drop_times", 1)
            if drop:
                COUNTS["drop"] += 1
        start, end, code = 0, len(data) - 1, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and not fx.get("ignore_range"):
            a, b = rng[6:].split("-")[:2]
            start = int(a or 0)
            end = min(int(b), len(data) - 1) if b else len(data) - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            code = 206
        body = bytearray(data[start:end + 1])
        if corrupt and body:
            body[len(body) // 2] ^= 0xFF
        self.send_response(code)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        limit = fx["drop_after"] if drop else len(body)
        rate = fx.get("rate", 0)
        sent, chunk = 0, 16384
        try:
            while sent < min(limit, len(body)):
                n = min(chunk, min(limit, len(body)) - sent)
                self.wfile.write(body[sent:sent + n])
                sent += n
                if rate:
                    time.sleep(n / rate)
            if drop:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that hang up (a pull that was interrupted) are part of the tests


def main():
    srv = Server(("127.0.0.1", 0), Hub)
    srv.daemon_threads = True
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    srv.serve_forever()


if __name__ == "__main__":
    main()
