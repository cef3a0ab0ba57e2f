#!/usr/bin/env python3
"""Per-kernel breakdown of one decode step from a CUDA kernel trace.

The trace comes from a build configured with -DINGOT_CUDA_TRACE=ON, run with
INGOT_CUDA_TRACE=FILE (see src/backend/cuda/trace.cuh): one line per block,
"tag block start ready end [loop-done]" in ns (loop-done: when the
block's last warp left its main loop, GEMVs only). Launches are told apart
by the order in which their blocks got past the previous kernel (ready),
the repeating per-layer pattern is found, and each position of it is
averaged over layers. A line "prev_end 0 T T T T" (T: when the step
before ended) gives the time between steps: from there to this step's
first block.

usage: bench/trace_report.py TRACE_FILE [--json]
"""
import json
import sys


def launches(recs):
    recs.sort(key=lambda r: r[3])
    out = []
    for tag, _blk, t0, t1, t2, t3 in recs:
        if not out or out[-1]["tag"] != tag:
            out.append({"tag": tag, "t0": [], "t1": [], "t2": [], "t3": []})
        L = out[-1]
        L["t0"].append(t0)
        L["t1"].append(t1)
        L["t2"].append(t2)
        L["t3"].append(t3)
    for L in out:
        ends = sorted(L["t2"])
        L["blocks"] = len(ends)
        L["start"] = min(L["t1"])
        L["arrive"] = min(L["t0"])
        L["end"] = ends[-1]
        L["end90"] = ends[int(0.9 * (len(ends) - 1))]
        L["late"] = sum(1 for t0 in L["t0"] if t0 > L["start"]) / len(ends)
        # medians over blocks: from the kernel's start (first ready) to the
        # block's loop done, and from there to the block's end
        mid = sorted(t3 - L["start"] for t3 in L["t3"])
        tail = sorted(t2 - t3 for t2, t3 in zip(L["t2"], L["t3"]))
        L["loop"] = mid[len(mid) // 2]
        L["tail"] = tail[len(tail) // 2]
    for a, b in zip(out, out[1:]):
        a["gap"] = b["start"] - a["end"]
    if out:
        out[-1]["gap"] = 0
    return out


def period(tags):
    """the layer pattern: (first index, length, repeats) covering the most launches"""
    best, key = (0, len(tags), 1), (0, 0)
    for p in range(2, min(40, len(tags) // 2) + 1):
        for s in range(min(p, 8)):
            n = 1
            while s + (n + 1) * p <= len(tags) and tags[s + n * p:s + (n + 1) * p] == tags[s:s + p]:
                n += 1
            if n >= 2 and (n * p, -p) > key:
                best, key = (s, p, n), (n * p, -p)
    return best


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    recs = []
    prev_end = None
    with open(sys.argv[1]) as f:
        for line in f:
            p = line.split()
            if p and p[0] == "prev_end":
                prev_end = int(p[2])
            elif len(p) in (5, 6):
                recs.append((p[0], int(p[1]), int(p[2]), int(p[3]), int(p[4]), int(p[5] if len(p) == 6 else p[3])))
    if not recs:
        sys.exit("no records in " + sys.argv[1])
    ls = launches(recs)
    tags = [L["tag"] for L in ls]
    s, p, n = period(tags)
    total = ls[-1]["end"] - ls[0]["start"]
    rows = []
    for k in range(p):
        grp = [ls[s + i * p + k] for i in range(n)]
        m = lambda key: sum(key(L) for L in grp) / len(grp) / 1e3
        rows.append({
            "pos": k, "tag": grp[0]["tag"], "blocks": grp[0]["blocks"],
            "us": m(lambda L: L["end"] - L["start"]),
            "us90": m(lambda L: L["end90"] - L["start"]),
            "gap_us": m(lambda L: L["gap"]),
            "lead_us": m(lambda L: L["start"] - L["arrive"]),
            "late": m(lambda L: L["late"]) * 1e3,
            "loop_us": m(lambda L: L["loop"]),
            "tail_us": m(lambda L: L["tail"]),
        })
    layer_us = sum(r["us"] + r["gap_us"] for r in rows)
    other = [L for i, L in enumerate(ls) if i < s or i >= s + n * p]
    first = min(r[2] for r in recs)
    res = {
        "between_steps_us": (first - prev_end) / 1e3 if prev_end and first > prev_end else None,
        "step_us": total / 1e3, "launches": len(ls), "layers": n, "per_layer": rows,
        "layer_us": layer_us, "outside_layers_us": sum((L["end"] - L["start"] + L["gap"]) for L in other) / 1e3,
        "outside": [{"tag": L["tag"], "blocks": L["blocks"], "us": (L["end"] - L["start"]) / 1e3,
                     "gap_us": L["gap"] / 1e3} for L in other],
    }
    if "--json" in sys.argv:
        print(json.dumps(res, indent=1))
        return
    print("step %.1f us, %d launches, %d layers of %d launches (%.1f us per layer), %.1f us outside the layers"
          % (res["step_us"], len(ls), n, p, layer_us, res["outside_layers_us"]))
    if res["between_steps_us"] is not None:
        print("between steps (the step before's last block to this step's first): %.1f us"
              % res["between_steps_us"])
    print()
    print("| # | kernel | blocks | time us | 90% of blocks done us | gap to next us | ready - first arrival us "
          "| blocks arriving after the first ready | start to loop done us | loop done to end us | share |")
    print("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print("| %d | %s | %d | %.2f | %.2f | %.2f | %.2f | %.0f%% | %.2f | %.2f | %.0f%% |" % (
            r["pos"], r["tag"], r["blocks"], r["us"], r["us90"], r["gap_us"], r["lead_us"], 100 * r["late"],
            r["loop_us"], r["tail_us"],
            100 * (r["us"] + r["gap_us"]) * n / max(1e-9, res["step_us"])))
    print()
    print("outside the layers (kernel, then gap to the next): " +
          ", ".join("%s %.1f + %.1f us" % (o["tag"], o["us"], o["gap_us"]) for o in res["outside"]))


if __name__ == "__main__":
    main()
