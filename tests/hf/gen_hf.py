#!/usr/bin/env python3
"""Write a tiny random-weight Hugging Face model folder (config.json,
safetensors, tokenizer files copied from a real tokenizer folder).

Weights come from a counter-based hash (splitmix64 of seed, tensor index,
element index), so every machine writes the same bytes; the fixture made
with transformers on the GPU machine records their SHA-256.

usage: gen_hf.py KIND TOKENIZER_DIR OUT_DIR
KIND: qwen2-sharded (F16, two shards + index, tied, QKV bias)
      llama-untied  (BF16, one file, lm_head, Llama 3 rope scaling)
      phi3-fused    (F16, fused qkv_proj / gate_up_proj)
      llama-mlx4    (MLX affine 4-bit, group 64, BF16 scales; embeddings and lm_head too)
      qwen2-mlx8    (MLX affine 8-bit, group 32, F16 scales, tied; down_proj of layer 1 at 4 bits)
MLX folders follow mlx-lm's layout: uint32 codes (a little-endian bit stream
per row) in NAME.weight, NAME.scales and NAME.biases in the scale dtype, and
config.json "quantization": {"group_size", "bits"} (per-module overrides).
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def values(seed, t, n, scale, offset):
    idx = np.arange(n, dtype=np.uint64)
    key = mix(np.uint64(seed * 1000003 + t))
    u = (mix(idx ^ key) >> np.uint64(40)).astype(np.float64) / 16777216.0 * 2.0 - 1.0
    return (offset + scale * 1.7320508 * u).astype(np.float32)


def bf16_bytes(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)).astype(np.uint16)
    return r.tobytes()


def mlx_quantize(w, group, bits):
    """MLX affine quantization: per group, bias = min, scale = (max - min) /
    (2^bits - 1), code = round((w - bias) / scale); codes packed LSB first
    into uint32 words."""
    rows, cols = w.shape
    g = w.astype(np.float64).reshape(rows, cols // group, group)
    lo, hi = g.min(axis=2), g.max(axis=2)
    levels = (1 << bits) - 1
    scale = (hi - lo) / levels
    safe = np.where(scale > 0, scale, 1.0)
    codes = np.clip(np.rint((g - lo[:, :, None]) / safe[:, :, None]), 0, levels).astype(np.uint64).reshape(rows, cols)
    per = 32 // bits
    c = codes.reshape(rows, cols // per, per)
    words = np.zeros((rows, cols // per), np.uint64)
    for k in range(per):
        words |= c[:, :, k] << np.uint64(bits * k)
    return words.astype(np.uint32), scale.astype(np.float32), lo.astype(np.float32)


def write_safetensors(path, tensors, dtype):
    header, blobs, off = {}, [], 0
    for name, arr in tensors:
        dt = dtype
        if arr.dtype == np.uint32:
            dt = "U32"
            b = arr.astype("<u4").tobytes()
        elif isinstance(dtype, dict):
            dt = dtype.get(name, "F32")
        if arr.dtype == np.uint32:
            pass
        elif dt == "F32":
            b = arr.astype("<f4").tobytes()
        elif dt == "F16":
            b = arr.astype("<f2").tobytes()
        else:
            b = bf16_bytes(arr)
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    kind, tok_dir, out = sys.argv[1:4]
    mlx = {"llama-mlx4": ("llama-untied", 64, 4, "BF16"), "qwen2-mlx8": ("qwen2-sharded", 32, 8, "F16")}.get(kind)
    if mlx:
        kind = mlx[0]
    E, L, H, KV, F = 64, 2, 4, 2, 128
    D = E // H
    tok = json.load(open(os.path.join(tok_dir, "tokenizer.json")))
    n_tok = max(max(tok["model"]["vocab"].values()), max(t["id"] for t in tok["added_tokens"])) + 1
    V = {"qwen2-sharded": 151936}.get(kind, n_tok)
    cfg = {"hidden_size": E, "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": KV,
           "intermediate_size": F, "vocab_size": V, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
           "hidden_act": "silu", "torch_dtype": "float32", "initializer_range": 0.02, "attention_dropout": 0.0}
    tcfg = json.load(open(os.path.join(tok_dir, "tokenizer_config.json")))
    bos = tcfg.get("bos_token")
    eos = tcfg.get("eos_token")
    vocab = dict(tok["model"]["vocab"])
    vocab.update({t["content"]: t["id"] for t in tok["added_tokens"]})
    if bos:
        cfg["bos_token_id"] = vocab[bos if isinstance(bos, str) else bos["content"]]
    if eos:
        cfg["eos_token_id"] = vocab[eos if isinstance(eos, str) else eos["content"]]
    names = []  # (name, shape, kind: 0 matrix / 1 norm / 2 bias)
    names.append(("model.embed_tokens.weight", (V, E), 0))
    for i in range(L):
        p = "model.layers.%d." % i
        names.append((p + "input_layernorm.weight", (E,), 1))
        if kind == "phi3-fused":
            names.append((p + "self_attn.qkv_proj.weight", ((H + 2 * KV) * D, E), 0))
        else:
            names += [(p + "self_attn.q_proj.weight", (H * D, E), 0), (p + "self_attn.k_proj.weight", (KV * D, E), 0),
                      (p + "self_attn.v_proj.weight", (KV * D, E), 0)]
        if kind == "qwen2-sharded":
            names += [(p + "self_attn.q_proj.bias", (H * D,), 2), (p + "self_attn.k_proj.bias", (KV * D,), 2),
                      (p + "self_attn.v_proj.bias", (KV * D,), 2)]
        names.append((p + "self_attn.o_proj.weight", (E, H * D), 0))
        names.append((p + "post_attention_layernorm.weight", (E,), 1))
        if kind == "phi3-fused":
            names.append((p + "mlp.gate_up_proj.weight", (2 * F, E), 0))
        else:
            names += [(p + "mlp.gate_proj.weight", (F, E), 0), (p + "mlp.up_proj.weight", (F, E), 0)]
        names.append((p + "mlp.down_proj.weight", (E, F), 0))
    names.append(("model.norm.weight", (E,), 1))
    if kind != "qwen2-sharded":
        names.append(("lm_head.weight", (V, E), 0))
    tensors = []
    for t, (name, shape, k) in enumerate(names):
        n = int(np.prod(shape))
        scale = {0: 1.0 / np.sqrt(shape[-1]), 1: 0.2, 2: 0.5}[k]
        if name == "model.embed_tokens.weight":
            scale = 1.0
        tensors.append((name, values(7, t, n, scale, 1.0 if k == 1 else 0.0).reshape(shape)))

    os.makedirs(out, exist_ok=True)
    if mlx:
        _, group, bits, sdt = mlx
        qcfg = {"group_size": group, "bits": bits}
        qt, dtypes = [], {}
        for name, arr in tensors:
            if arr.ndim == 2:
                b = bits
                if name == "model.layers.1.mlp.down_proj.weight":
                    b = 4  # a mixed-precision module, as mlx-lm writes them
                    qcfg[name[:-len(".weight")]] = {"group_size": group, "bits": 4}
                wq, sc, bi = mlx_quantize(arr, group, b)
                base = name[:-len(".weight")]
                qt += [(name, wq), (base + ".scales", sc), (base + ".biases", bi)]
                dtypes[base + ".scales"] = dtypes[base + ".biases"] = sdt
            else:
                qt.append((name, arr))
                dtypes[name] = sdt
        if kind == "qwen2-sharded":
            cfg.update({"model_type": "qwen2", "rope_theta": 1000000.0, "tie_word_embeddings": True})
        else:
            cfg.update({"model_type": "llama", "rope_theta": 500000.0, "tie_word_embeddings": False})
        cfg["quantization"] = qcfg
        write_safetensors(os.path.join(out, "model.safetensors"), qt, dtypes)
    elif kind == "qwen2-sharded":
        cfg.update({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "rope_theta": 1000000.0,
                    "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 4096,
                    "max_window_layers": L})
        half = len(tensors) // 2
        shards = [tensors[:half], tensors[half:]]
        wmap = {}
        for s, part in enumerate(shards):
            fn = "model-%05d-of-%05d.safetensors" % (s + 1, len(shards))
            write_safetensors(os.path.join(out, fn), part, "F16")
            wmap.update({name: fn for name, _ in part})
        json.dump({"metadata": {}, "weight_map": wmap}, open(os.path.join(out, "model.safetensors.index.json"), "w"),
                  indent=1)
    elif kind == "llama-untied":
        cfg.update({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "rope_theta": 500000.0,
                    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
                    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})
        write_safetensors(os.path.join(out, "model.safetensors"), tensors, "BF16")
    elif kind == "phi3-fused":
        cfg.update({"model_type": "phi3", "architectures": ["Phi3ForCausalLM"], "rope_theta": 10000.0,
                    "tie_word_embeddings": False, "rope_scaling": None, "sliding_window": None,
                    "original_max_position_embeddings": 4096, "resid_pdrop": 0.0, "embd_pdrop": 0.0})
        write_safetensors(os.path.join(out, "model.safetensors"), tensors, "F16")
    else:
        sys.exit("unknown kind " + kind)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok_dir, fn), os.path.join(out, fn))


if __name__ == "__main__":
    main()
