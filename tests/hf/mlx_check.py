#!/usr/bin/env python3
"""An MLX-quantized folder (gen_hf.py llama-mlx4 / qwen2-mlx8) run in place:
  1. every quantized weight, dequantized by ingot (`ingot convert --type f32`),
     equals this script's own NumPy dequantization of the safetensors (MLX's
     definition: w = scale * code + bias, codes a little-endian bit stream of
     uint32 words) to float rounding;
  2. ingot's logits on the folder itself equal the NumPy reference forward
     pass over those weights (reference.py on the converted F32 GGUF).

usage: mlx_check.py INGOT TEST_LOGITS FOLDER WORKDIR [--tol 1e-4]
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from reference import read_gguf  # noqa: E402

NAMES = {"model.embed_tokens": "token_embd", "lm_head": "output"}
LAYER = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}


def read_st(path):
    buf = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    hdr = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = buf[base + b: base + e]
        if v["dtype"] == "U32":
            a = np.frombuffer(raw, "<u4")
        elif v["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2").astype(np.float64)
        elif v["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            a = np.frombuffer(raw, "<f4").astype(np.float64)
        out[k] = a.reshape(v["shape"])
    return out


def dequant(words, scales, biases, group):
    rows = words.shape[0]
    cols = scales.shape[1] * group
    bits = words.shape[1] * 32 // cols
    per = 32 // bits
    w = words.astype(np.uint64)
    codes = np.stack([(w >> np.uint64(bits * k)) & np.uint64((1 << bits) - 1) for k in range(per)], axis=2)
    codes = codes.reshape(rows, cols).astype(np.float64)
    return codes * np.repeat(scales, group, axis=1) + np.repeat(biases, group, axis=1)


def gguf_name(hf):
    base = hf[:-len(".weight")]
    if base in NAMES:
        return NAMES[base] + ".weight"
    parts = base.split(".")
    return "blk.%s.%s.weight" % (parts[2], LAYER[".".join(parts[3:])])


def main():
    ingot, tl, folder, work = sys.argv[1:5]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
    cfg = json.load(open(os.path.join(folder, "config.json")))
    q = cfg["quantization"]
    st = read_st(os.path.join(folder, "model.safetensors"))
    name = os.path.basename(folder.rstrip("/"))
    gguf = os.path.join(work, name + ".f32.gguf")
    os.makedirs(work, exist_ok=True)
    subprocess.run([ingot, "convert", folder, gguf, "--type", "f32", "--force"], check=True, capture_output=True)
    _, tensors = read_gguf(gguf)
    permuted = cfg["model_type"] == "llama"  # GGUF llama Q/K rows are permuted: covered by the logits
    worst, n = 0.0, 0
    for k, v in st.items():
        if not k.endswith(".weight") or v.dtype != np.uint32:
            continue
        base = k[:-len(".weight")]
        group = q.get(base, q)["group_size"] if isinstance(q.get(base), dict) else q["group_size"]
        ref = dequant(v, st[base + ".scales"], st[base + ".biases"], group)
        g = gguf_name(k)
        if permuted and (".attn_q." in g or ".attn_k." in g):
            continue
        got = tensors[g]
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        worst = max(worst, err)
        n += 1
    ok = worst <= 1e-6
    print("%s: %d MLX weights dequantized, max rel diff %.3g vs NumPy (tol 1e-6)" % (name, n, worst))
    out = os.path.join(work, name + ".bin")
    r = subprocess.run([tl, folder, out], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        return 1
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref",
                                                     "reference.py"), gguf, out, "--tol", str(tol)],
                       capture_output=True, text=True)
    print(r.stdout.strip())
    return 0 if ok and r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
