#!/usr/bin/env python3
"""Cross-check ingot's Q4_K / Q6_K layout against llama.cpp's own Python
package (gguf-py: gguf.quants), where it is installed: a GGUF written by
ingot-gen with k-quant weights must dequantize to the same values with
gguf.quants.dequantize as with reference.py's NumPy dequantizers.

usage: kquant_crosscheck.py MODEL.gguf   (exit 77 when gguf-py is missing)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dequant_q4_k, dequant_q6_k  # noqa: E402

try:
    import gguf
    from gguf import quants
except ImportError:
    print("SKIP: the gguf Python package (llama.cpp's gguf-py) is not installed")
    sys.exit(77)


def main():
    r = gguf.GGUFReader(sys.argv[1])
    checked = 0
    for t in r.tensors:
        if t.tensor_type not in (gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K):
            continue
        raw = np.asarray(t.data).view(np.uint8).reshape(-1)
        theirs = quants.dequantize(raw, t.tensor_type).astype(np.float64).reshape(-1)
        bs = 144 if t.tensor_type == gguf.GGMLQuantizationType.Q4_K else 210
        blk = raw.reshape(-1, bs)
        ours = (dequant_q4_k(blk) if bs == 144 else dequant_q6_k(blk)).reshape(-1)
        err = np.max(np.abs(theirs - ours)) / max(np.max(np.abs(theirs)), 1e-30)
        if err > 1e-6:
            print("FAIL %s (%s): max rel diff %.3g" % (t.name, t.tensor_type.name, err))
            return 1
        checked += 1
    print("ok: %d k-quant tensors dequantize identically with gguf-py" % checked)
    return 0 if checked else 1


if __name__ == "__main__":
    sys.exit(main())
