#!/usr/bin/env python3
"""Make the Hugging Face reference fixtures (run where transformers is
installed: the GPU machine). For each tiny folder written by gen_hf.py:
logits of the first 32 prompt tokens in float32 at 8 positions (a strided
subset of the vocabulary plus each position's top 8), the argmax at every
position, 16 greedy tokens, the prompt's token ids and the weights' SHA-256.
For each tokenizer folder: chat-template renders of a set of conversations
by apply_chat_template.

usage: make_fixtures.py OUT_DIR MODEL_DIR... -- TOKENIZER_DIR...
"""
import hashlib
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPT = ("The quick brown fox jumps over the lazy dog. Once upon a time, in a land far away, "
          "there lived a small robot who loved to count: 1, 2, 3, 42, 1234567. ¿Qué tal? 你好，世界! <tag> end.")
POSITIONS = [0, 1, 2, 3, 7, 15, 23, 31]
STRIDE = 211


def weights_sha(d):
    out = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            out[fn] = hashlib.sha256(open(os.path.join(d, fn), "rb").read()).hexdigest()
    return out


def model_fixture(d):
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    ids = tok(PROMPT)["input_ids"]
    assert len(ids) >= 32, len(ids)
    x = torch.tensor([ids[:32]])
    with torch.no_grad():
        logits = model(x).logits[0].double()
        gen = model.generate(x, max_new_tokens=16, do_sample=False, min_new_tokens=16,
                             attention_mask=torch.ones_like(x), pad_token_id=0)
    nv = logits.shape[1]
    pos = []
    for p in POSITIONS:
        row = logits[p]
        idx = sorted(set(range(0, nv, STRIDE)) | set(torch.topk(row, 8).indices.tolist()))
        pos.append({"pos": p, "index": idx, "logits": [round(float(row[i]), 7) for i in idx]})
    return {"prompt": PROMPT, "ids": ids, "n": 32, "n_vocab": nv, "positions": pos,
            "argmax": logits.argmax(dim=1).tolist(), "greedy": gen[0, 32:].tolist(),
            "sha256": weights_sha(d), "transformers": __import__("transformers").__version__}


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city"]}}}

CASES = [
    ("user", [{"role": "user", "content": "Hello!"}], {}),
    ("system_user", [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "What is 2+2?"}], {}),
    ("multi_turn", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke."}], {}),
    ("multi_turn_no_gen", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}],
     {"add_generation_prompt": False}),
    ("whitespace", [{"role": "user", "content": "  padded text \n\n"}], {}),
    ("unicode", [{"role": "user", "content": "héllo 世界 🎉 \"quotes\" \\ back\\slash"}], {}),
    ("think_history", [{"role": "user", "content": "Why is the sky blue?"},
                       {"role": "assistant", "content": "<think>\nRayleigh scattering.\n</think>\n\nBecause of scattering."},
                       {"role": "user", "content": "And sunsets?"}], {}),
    ("think_last", [{"role": "user", "content": "Q"},
                    {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nA"}], {"add_generation_prompt": False}),
    ("reasoning_field", [{"role": "user", "content": "Q1"},
                         {"role": "assistant", "content": "A1", "reasoning_content": "thinking about Q1"},
                         {"role": "user", "content": "Q2"},
                         {"role": "assistant", "content": "A2", "reasoning_content": "thinking about Q2"}],
     {"add_generation_prompt": False}),
    ("no_thinking", [{"role": "user", "content": "Quick answer please."}], {"enable_thinking": False}),
    ("tools", [{"role": "system", "content": "You can call tools."},
               {"role": "user", "content": "Weather in Paris and Rome?"},
               {"role": "assistant", "content": "",
                "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                               {"type": "function", "function": {"name": "get_weather",
                                                                 "arguments": "{\"city\": \"Rome\", \"unit\": \"c\"}"}}]},
               {"role": "tool", "content": "{\"temp\": 18}"},
               {"role": "tool", "content": "{\"temp\": 24}"},
               {"role": "assistant", "content": "Paris 18C, Rome 24C."},
               {"role": "user", "content": "Thanks"}], {"tools": [WEATHER]}),
    ("tools_no_system", [{"role": "user", "content": "Weather?"}], {"tools": [WEATHER]}),
    ("tool_call_with_text", [{"role": "user", "content": "Weather in Oslo?"},
                             {"role": "assistant", "content": "Let me check.",
                              "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                             {"role": "tool", "content": "<tool_response>cold</tool_response>"}], {}),
]


def render_fixture(d):
    tok = AutoTokenizer.from_pretrained(d)
    out = []
    for name, msgs, opts in CASES:
        kw = {"add_generation_prompt": True}
        kw.update(opts)
        try:
            text = tok.apply_chat_template(msgs, tokenize=False, **kw)
            out.append({"name": name, "messages": msgs, "options": kw, "text": text})
        except Exception as e:  # a template may refuse a conversation: record that too
            out.append({"name": name, "messages": msgs, "options": kw, "error": str(e)})
    return out


def main():
    out = sys.argv[1]
    args = sys.argv[2:]
    cut = args.index("--")
    os.makedirs(out, exist_ok=True)
    for d in args[:cut]:
        name = os.path.basename(d.rstrip("/"))
        json.dump(model_fixture(d), open(os.path.join(out, name + ".logits.json"), "w"), separators=(",", ":"))
        print("wrote", name)
    for d in args[cut + 1:]:
        name = os.path.basename(d.rstrip("/"))
        json.dump(render_fixture(d), open(os.path.join(out, name + ".render.json"), "w"), indent=1,
                  ensure_ascii=False)
        print("wrote renders", name)


if __name__ == "__main__":
    main()
