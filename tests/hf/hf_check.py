#!/usr/bin/env python3
"""A tiny random-weight Hugging Face folder (gen_hf.py) run in place by
ingot against transformers' float32 outputs recorded in a fixture:
  - the generated weights are the bytes the fixture was made from (SHA-256);
  - `ingot tokenize` gives the ids transformers' tokenizer gave;
  - logits at 8 positions of a 32-token prompt: max|ingot - ref| / max|ref|
    <= tol over the recorded vocabulary subset, and the argmax at all 32;
  - 16 greedy tokens equal transformers' generate().

usage: hf_check.py INGOT TEST_LOGITS FOLDER FIXTURE.logits.json [--tol 1e-4] [--model PATH]
--model: run PATH (e.g. the folder converted to GGUF) instead of FOLDER.
--loose: quantized weights; check the logits tolerance only (argmax and greedy
         may differ where the random model's top logits are close).
"""
import hashlib
import json
import os
import struct
import subprocess
import sys


def main():
    ingot, tl, folder, fixture = sys.argv[1:5]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
    fx = json.load(open(fixture))
    model = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else folder
    fails = []
    for fn, want in fx["sha256"].items():
        got = hashlib.sha256(open(os.path.join(folder, fn), "rb").read()).hexdigest()
        if got != want:
            print("FAIL: %s differs from the fixture's weights (generator changed?)" % fn)
            return 1
    p = subprocess.run([ingot, "tokenize", model], input=fx["prompt"].encode(), capture_output=True)
    ids = [int(x) for x in p.stdout.split()] if p.returncode == 0 else None
    if ids != fx["ids"]:
        fails.append("tokenize: want %s\n  got  %s %s" % (fx["ids"], ids, p.stderr.decode()[:200]))
    n = fx["n"]
    out = model.rstrip("/") + ".logits.bin"
    p = subprocess.run([tl, model, out, "--ids", ",".join(map(str, fx["ids"][:n]))], capture_output=True)
    if p.returncode != 0:
        print(p.stdout.decode(), p.stderr.decode())
        fails.append("test_logits failed")
    else:
        buf = open(out, "rb").read()
        N, nv = struct.unpack_from("<ii", buf, 0)
        assert N == n and nv == fx["n_vocab"], (N, nv)
        off = 8 + 4 * N
        logits = [struct.unpack_from("<%df" % nv, buf, off + 4 * nv * i) for i in range(N)]
        worst = 0.0
        for pos in fx["positions"]:
            row = logits[pos["pos"]]
            ref = pos["logits"]
            scale = max(abs(x) for x in ref)
            err = max(abs(row[i] - r) for i, r in zip(pos["index"], ref)) / scale
            worst = max(worst, err)
        arg = [max(range(nv), key=row.__getitem__) for row in logits]
        if worst > tol:
            fails.append("logits: max rel err %.3g > %g" % (worst, tol))
        bad = [i for i in range(N) if arg[i] != fx["argmax"][i]]
        loose = "--loose" in sys.argv
        if bad and not loose:
            fails.append("argmax differs at positions %s" % bad)
        greedy = [int(x) for x in open(out + ".greedy").read().split()]
        if greedy != fx["greedy"] and not loose:
            fails.append("greedy: want %s\n  got  %s" % (fx["greedy"], greedy))
        print("%s: logits max rel err %.3g (tol %g), argmax %d/%d equal, greedy %s" %
              (os.path.basename(folder), worst, tol, N - len(bad), N, "equal" if greedy == fx["greedy"] else "DIFFERENT"))
    for f in fails:
        print("FAIL " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
