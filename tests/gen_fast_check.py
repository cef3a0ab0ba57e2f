#!/usr/bin/env python3
"""ingot-gen --fast: the same file as without it, except that every matrix
repeats its first 61 rows (checked tensor by tensor, dequantized with the
NumPy reference's reader).
usage: gen_fast_check.py NORMAL.gguf FAST.gguf"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
from reference import read_gguf  # noqa: E402


def main():
    kv_a, a = read_gguf(sys.argv[1])
    kv_b, b = read_gguf(sys.argv[2])
    assert kv_a == kv_b, "metadata differs"
    assert a.keys() == b.keys(), "tensor names differ"
    repeated = 0
    for name in a:
        x, y = a[name], b[name]
        assert x.shape == y.shape, name
        if x.ndim == 1 or x.shape[0] <= 61:
            assert np.array_equal(x, y), "%s: should be identical" % name
            continue
        assert np.array_equal(x[:61], y[:61]), "%s: first 61 rows differ" % name
        rows = np.arange(x.shape[0]) % 61
        assert np.array_equal(y, y[rows]), "%s: rows do not repeat every 61" % name
        assert not np.array_equal(x, y), "%s: --fast changed nothing" % name
        repeated += 1
    assert repeated > 0, "no matrix had more than 61 rows"
    print("ok: %d tensors, %d matrices repeat their first 61 rows" % (len(a), repeated))


if __name__ == "__main__":
    main()
