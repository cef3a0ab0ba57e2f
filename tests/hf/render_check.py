#!/usr/bin/env python3
"""Chat-template renders by `ingot render` against Hugging Face's
apply_chat_template (fixtures made by make_fixtures.py with transformers).
Every case must match byte for byte; a case transformers refused must be
refused by ingot too.

usage: render_check.py INGOT TOKENIZER_DIR FIXTURE.render.json
"""
import json
import subprocess
import sys


def main():
    ingot, tok_dir, fixture = sys.argv[1:4]
    cases = json.load(open(fixture))
    fails = 0
    for c in cases:
        opts = dict(c["options"])
        gen = opts.pop("add_generation_prompt", True)
        stdin = dict(opts)
        stdin["messages"] = c["messages"]
        cmd = [ingot, "render", tok_dir] + ([] if gen else ["--no-generation-prompt"])
        p = subprocess.run(cmd, input=json.dumps(stdin).encode(), capture_output=True)
        got = p.stdout.decode("utf-8", "replace")
        if "error" in c:
            ok = p.returncode != 0
            detail = "transformers refused (%s); ingot rc %d" % (c["error"][:80], p.returncode)
        else:
            ok = p.returncode == 0 and got == c["text"]
            detail = "rc %d %s\n  want %r\n  got  %r" % (p.returncode, p.stderr.decode()[:300], c["text"], got)
        print("%s %s" % ("ok  " if ok else "FAIL", c["name"]) + ("" if ok else "\n  " + detail))
        fails += not ok
    print("%d cases, %d failed" % (len(cases), fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
