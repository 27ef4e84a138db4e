#!/usr/bin/env python3
"""HuggingFace interoperability: `tllm export --format hf` loads in transformers and gives our logits.

    tllm bench numerics --vocab-size 8192 --layers 2 --d-model 128 --heads 2 --context 64 --batch 2 --steps 1 -o /tmp/hfnum
    tllm export --format hf --model /tmp/hfnum -o /tmp/hfout
    python3 bench/hf_export_check.py /tmp/hfnum /tmp/hfout

(or pass a trained run folder as the first argument with --run, see below). Prints the max
|Δ logits| between tllm (first-batch.safetensors) and GPT2LMHeadModel.from_pretrained(OUT).
"""
import os, sys
import numpy as np
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_check import read_safetensors, read_shard  # noqa: E402
import json


def main():
    num, out = sys.argv[1], sys.argv[2]
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast
    m = GPT2LMHeadModel.from_pretrained(out).eval()
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(out, "tokenizer.json"))
    run = json.load(open(os.path.join(num, "run.json")))
    B, T = run["batch"], run["context"]
    toks = read_shard(os.path.join(num, "batches.bin")).reshape(run["steps"], B, T + 1)
    ref = read_safetensors(os.path.join(num, "first-batch.safetensors"))["logits"]
    with torch.no_grad():
        logits = m(torch.from_numpy(toks[0, : ref.shape[0], :-1])).logits
    d = (logits - ref).abs().max().item()
    print(f"transformers {__import__('transformers').__version__}: GPT2LMHeadModel loaded from {out}; max |Δ logits| = {d:.2e}")
    print("tokenizer round trip:", tok.decode(tok.encode("ROMEO: What light through yonder window breaks?")))
    sys.exit(0 if d <= 1e-4 else 1)


if __name__ == "__main__":
    main()
