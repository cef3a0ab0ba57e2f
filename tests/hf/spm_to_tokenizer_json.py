#!/usr/bin/env python3
"""Write the tokenizer.json Hugging Face's converter makes of a SentencePiece
BPE vocabulary (here: the llama-spm vocab GGUF), so the Metaspace /
byte-fallback path of ingot's tokenizer.json reader can be checked against
the same goldens as the GGUF: merges are every split of a piece into two
pieces, ranked by the merged piece's score (highest first, then by ids), as
transformers' SentencePieceExtractor does with vocab scores; Llama's normalizer prepends U+2581
and replaces spaces.

usage: spm_to_tokenizer_json.py VOCAB.gguf OUT_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from reference import read_gguf  # noqa: E402


def main():
    kv, _ = read_gguf(sys.argv[1])
    out = sys.argv[2]
    tokens = kv["tokenizer.ggml.tokens"]
    types = kv["tokenizer.ggml.token_type"]
    scores = kv["tokenizer.ggml.scores"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    for piece, pid in vocab.items():
        if types[pid] != 1:
            continue
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab and types[vocab[left]] == 1 and types[vocab[right]] in (1,):
                merges.append((-scores[pid], pid, vocab[left], vocab[right], left, right))
    merges.sort()
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, t in enumerate(tokens) if types[i] in (2, 3)]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                            {"type": "Replace", "pattern": {"String": " "},
                                                             "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}]},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[m[4], m[5]] for m in merges]},
    }
    os.makedirs(out, exist_ok=True)
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True},
              open(os.path.join(out, "tokenizer_config.json"), "w"))


if __name__ == "__main__":
    main()
