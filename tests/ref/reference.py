#!/usr/bin/env python3
"""Independent reference for ingot's forward pass.

Reads a GGUF file with its own parser (nothing shared with the C code),
dequantizes F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q6_K weights with NumPy, runs the Llama /
Qwen2 decoder in float64 over the prompt stored by test_logits, and compares
the logits at every position: max|ingot - ref| / max|ref| <= tolerance.

usage: reference.py MODEL.gguf LOGITS.bin [--tol 1e-4]
"""
import struct
import sys

import numpy as np

GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                10: "<Q", 11: "<q", 12: "<d"}


def dequant_q4_k(blk):
    """Q4_K (GGML layout): d, dmin fp16; 12 bytes of 6-bit scales/mins for 8
    sub-blocks of 32; 128 bytes of nibbles, 64 weights per 32 bytes (low
    nibbles first)."""
    d = blk[:, 0:2].copy().view(np.float16).astype(np.float64)
    dmin = blk[:, 2:4].copy().view(np.float16).astype(np.float64)
    s = blk[:, 4:16].astype(np.int64)
    sc = np.zeros((len(blk), 8), np.int64)
    mn = np.zeros((len(blk), 8), np.int64)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    qs = blk[:, 16:144].astype(np.int64).reshape(-1, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)  # sub-block 2g: low, 2g+1: high
    return (d * sc)[:, :, None] * q - (dmin * mn)[:, :, None]


def dequant_q6_k(blk):
    """Q6_K (GGML layout): ql[128], qh[64], int8 scales[16], d fp16; per half
    of 128 weights: q = low nibble | 2 high bits, minus 32; 16 weights share
    a scale."""
    ql = blk[:, 0:128].astype(np.int64).reshape(-1, 2, 64)
    qh = blk[:, 128:192].astype(np.int64).reshape(-1, 2, 32)
    sc = blk[:, 192:208].copy().view(np.int8).astype(np.float64).reshape(-1, 2, 8)
    d = blk[:, 208:210].copy().view(np.float16).astype(np.float64)
    q = np.concatenate([
        (ql[:, :, 0:32] & 15) | ((qh & 3) << 4),
        (ql[:, :, 32:64] & 15) | (((qh >> 2) & 3) << 4),
        (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4),
        (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4)], axis=2) - 32  # (blocks, 2, 128)
    scale = np.repeat(sc, 16, axis=2)  # weight k of a half uses scale k // 16
    return (d[:, :, None] * scale * q).reshape(len(blk), -1)


def read_gguf(path):
    buf = open(path, "rb").read()
    assert buf[:4] == b"GGUF", "not a GGUF file"
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", buf, 4)
    off = 24

    def rstr():
        nonlocal off
        (n,) = struct.unpack_from("<Q", buf, off)
        s = buf[off + 8: off + 8 + n].decode("utf-8", "replace")
        off += 8 + n
        return s

    def rval(t):
        nonlocal off
        if t == 8:
            return rstr()
        if t == 9:
            et, n = struct.unpack_from("<IQ", buf, off)
            off += 12
            return [rval(et) for _ in range(n)]
        fmt = GGUF_SCALARS[t]
        (v,) = struct.unpack_from(fmt, buf, off)
        off += struct.calcsize(fmt)
        return v

    kv = {}
    for _ in range(n_kv):
        k = rstr()
        (t,) = struct.unpack_from("<I", buf, off)
        off += 4
        kv.setdefault(k, rval(t))
    infos = []
    for _ in range(n_tensors):
        name = rstr()
        (nd,) = struct.unpack_from("<I", buf, off)
        off += 4
        ne = struct.unpack_from("<%dQ" % nd, buf, off)
        off += 8 * nd
        typ, toff = struct.unpack_from("<IQ", buf, off)
        off += 12
        infos.append((name, ne, typ, toff))
    align = kv.get("general.alignment", 32)
    data = (off + align - 1) // align * align
    tensors = {}
    for name, ne, typ, toff in infos:
        n = int(np.prod(ne))
        p = data + toff
        if typ == 0:
            a = np.frombuffer(buf, np.float32, n, p).astype(np.float64)
        elif typ == 1:
            a = np.frombuffer(buf, np.float16, n, p).astype(np.float64)
        elif typ == 30:
            u = np.frombuffer(buf, np.uint16, n, p).astype(np.uint32) << 16
            a = u.view(np.float32).astype(np.float64)
        elif typ == 8:  # Q8_0: fp16 scale + 32 int8
            blk = np.frombuffer(buf, np.uint8, n // 32 * 34, p).reshape(-1, 34)
            d = blk[:, :2].copy().view(np.float16).astype(np.float64)
            q = blk[:, 2:].copy().view(np.int8).astype(np.float64)
            a = (d * q).reshape(-1)
        elif typ == 2:  # Q4_0: fp16 scale + 16 bytes; low nibbles first half
            blk = np.frombuffer(buf, np.uint8, n // 32 * 18, p).reshape(-1, 18)
            d = blk[:, :2].copy().view(np.float16).astype(np.float64)
            qs = blk[:, 2:]
            q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8
            a = (d * q).reshape(-1)
        elif typ == 12:  # Q4_K: 144-byte blocks of 256
            a = dequant_q4_k(np.frombuffer(buf, np.uint8, n // 256 * 144, p).reshape(-1, 144))
        elif typ == 14:  # Q6_K: 210-byte blocks of 256
            a = dequant_q6_k(np.frombuffer(buf, np.uint8, n // 256 * 210, p).reshape(-1, 210))
        else:
            raise SystemExit("reference: tensor type %d not handled" % typ)
        tensors[name] = a.reshape(tuple(reversed(ne)))  # rows = ne[1]
    return kv, tensors


def forward(kv, W, tokens):
    arch = kv["general.architecture"]
    E = kv[arch + ".embedding_length"]
    L = kv[arch + ".block_count"]
    H = kv[arch + ".attention.head_count"]
    HKV = kv.get(arch + ".attention.head_count_kv", H)
    eps = kv.get(arch + ".attention.layer_norm_rms_epsilon", 1e-5)
    base = kv.get(arch + ".rope.freq_base", 10000.0)
    hd = E // H
    neox = arch == "qwen2"
    T = len(tokens)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    inv = base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    if "rope_freqs.weight" in W:  # Llama 3 rope scaling: per-frequency divisors
        inv = inv / W["rope_freqs.weight"]
    ang = np.arange(T)[:, None] * inv[None, :]  # (T, hd/2)
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(x):  # x: (T, heads, hd)
        if neox:
            x0, x1 = x[..., : hd // 2], x[..., hd // 2:]
        else:
            x0, x1 = x[..., 0::2], x[..., 1::2]
        c, s = cos[:, None, :], sin[:, None, :]
        r0, r1 = x0 * c - x1 * s, x0 * s + x1 * c
        out = np.empty_like(x)
        if neox:
            out[..., : hd // 2], out[..., hd // 2:] = r0, r1
        else:
            out[..., 0::2], out[..., 1::2] = r0, r1
        return out

    x = W["token_embd.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = "blk.%d." % l
        h = rms(x, W[p + "attn_norm.weight"])
        q = h @ W[p + "attn_q.weight"].T
        k = h @ W[p + "attn_k.weight"].T
        v = h @ W[p + "attn_v.weight"].T
        if p + "attn_q.bias" in W:
            q, k, v = q + W[p + "attn_q.bias"], k + W[p + "attn_k.bias"], v + W[p + "attn_v.bias"]
        q = rope(q.reshape(T, H, hd))
        k = rope(k.reshape(T, HKV, hd))
        v = v.reshape(T, HKV, hd)
        rep = H // HKV
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, H * hd)
        x = x + o @ W[p + "attn_output.weight"].T
        h = rms(x, W[p + "ffn_norm.weight"])
        g = h @ W[p + "ffn_gate.weight"].T
        u = h @ W[p + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "ffn_down.weight"].T
    x = rms(x, W["output_norm.weight"])
    out = W.get("output.weight", W["token_embd.weight"])
    return x @ out.T


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
    kv, W = read_gguf(sys.argv[1])
    raw = open(sys.argv[2], "rb").read()
    n, nv = struct.unpack_from("<ii", raw, 0)
    tokens = np.frombuffer(raw, np.int32, n, 8)
    got = np.frombuffer(raw, np.float32, n * nv, 8 + 4 * n).reshape(n, nv)
    ref = forward(kv, W, tokens)
    errs = np.abs(got - ref).max(-1) / np.abs(ref).max(-1)
    worst = float(errs.max())
    argmax_same = bool((got.argmax(-1) == ref.argmax(-1)).all())
    print("%s: %d positions, max rel err %.3g (tol %g), argmax equal: %s"
          % (sys.argv[1], n, worst, tol, argmax_same))
    sys.exit(0 if worst <= tol else 1)


if __name__ == "__main__":
    main()
