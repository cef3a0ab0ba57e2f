#!/usr/bin/env bash
# Per-token time breakdown of CUDA decode: Nsight Compute (ncu) times every
# kernel of a few decode steps (CUDA graphs off, so each launch is seen) and
# reads its DRAM bytes; the table gives time per token and achieved read
# bandwidth per kernel; steps are counted by embedding launches.
# PP=512 profiles a 512-token prefill and one decode step instead; PAR=32
# decode steps of 32 sequences at once.
# usage: [PP=N] [PAR=N] bench/gpu_profile.sh BUILD_DIR MODEL.gguf [decode steps]
set -u
B=${1:-build-cuda} M=$2 N=${3:-4} PP=${PP:-0} PAR=${PAR:-1}
[ "$PP" != 0 ] && N=1
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
command -v ncu >/dev/null || { echo "ncu not found: no breakdown"; exit 0; }
W=$(mktemp -d)
INGOT_CUDA_GRAPHS=0 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv \
  "$B/ingot" bench "$M" --backend cuda -p "$PP" -n "$N" --parallel "$PAR" -r 1 --no-bw > "$W/k.csv" 2>"$W/err.txt"
python3 - "$W/k.csv" "$N" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr, rows = rows[0], rows[1:]
iid, iname, imet, ival = hdr.index("ID"), hdr.index("Kernel Name"), hdr.index("Metric Name"), hdr.index("Metric Value")
iunit = hdr.index("Metric Unit")
k = {}
for r in rows:
    d = k.setdefault(int(r[iid]), {"name": r[iname]})
    v = float(r[ival].replace(",", ""))
    u = r[iunit]
    if r[imet].startswith("gpu__time"):
        d["ns"] = v * {"nsecond": 1, "usecond": 1e3, "msecond": 1e6}.get(u, 1)
    else:
        d["bytes"] = v * {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(u, 1)
agg = collections.defaultdict(lambda: [0, 0.0, 0.0])
for d in k.values():
    name = d["name"].split("(")[0].split("<")[0] + ("<" + d["name"].split("<")[1].split(">")[0] + ">" if "<" in d["name"] else "")
    a = agg[name]
    a[0] += 1; a[1] += d.get("ns", 0); a[2] += d.get("bytes", 0)
n = max([a[0] for nm, a in agg.items() if "k_embed" in nm] + [1])  # one embedding per step
tot = sum(a[1] for a in agg.values())
print("| kernel | launches/step | us/step | GB/s | share |")
print("|---|--:|--:|--:|--:|")
for name, a in sorted(agg.items(), key=lambda x: -x[1][1]):
    print("| %s | %.0f | %.1f | %.0f | %.0f%% |" % (name[:70], a[0] / n, a[1] / n / 1e3, a[2] / max(a[1], 1), 100 * a[1] / tot))
print("kernel time per step: %.1f us over %d steps (ncu serializes kernels: no launch overlap counted)" % (tot / n / 1e3, n))
PY
tail -3 "$W/err.txt"
rm -rf "$W"
