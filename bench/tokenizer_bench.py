#!/usr/bin/env python3
"""Tokenizer speed: tllm vs tiktoken vs HuggingFace tokenizers, measured in one run.

Single-thread encode throughput of the whole file (each tool encodes the full text in one call),
tllm's parallel encode, and BPE training time of an 8192-token byte-level vocabulary on the
Shakespeare text. Prints a table and the ratios tllm / peer.

    pip install tiktoken tokenizers
    swift build -c release && python3 bench/tokenizer_bench.py
"""
import json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from tiktoken_reference import gpt2_encoding, cl100k_encoding  # noqa: E402

TLLM = os.path.join(ROOT, ".build/release/tllm")
FILES = ["corpora/shakespeare.txt", "corpora/kjv.txt"]


def best_of(n, f):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def tllm_stats(vocab, path, threads):
    out = subprocess.check_output([TLLM, "tokenizer", "stats", "--vocab", vocab, path, "--threads", str(threads), "--json"])
    return json.loads(out)


def main():
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    encs = {"gpt2": gpt2_encoding(), "cl100k": cl100k_encoding()}
    hf_gpt2 = Tokenizer(models.BPE.from_file(os.path.join(ROOT, "vocab/gpt2/encoder.json"), os.path.join(ROOT, "vocab/gpt2/vocab.bpe")))
    hf_gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    rows = []
    for path in FILES:
        full = os.path.join(ROOT, path)
        text = open(full, encoding="utf-8").read()
        mb = len(text.encode()) / 1e6
        for vname, enc in encs.items():
            t_tk = best_of(3, lambda: enc.encode_ordinary(text))
            ours1 = tllm_stats(vname, full, 1)
            ours2 = tllm_stats(vname, full, 2)
            row = {"file": path, "vocab": vname, "tiktoken_mb_s": mb / t_tk, "tllm_mb_s": ours1["mb_per_s"],
                   "tllm_2threads_mb_s": ours2["mb_per_s"], "ratio_vs_tiktoken": ours1["mb_per_s"] / (mb / t_tk)}
            if vname == "gpt2":
                t_hf = best_of(3, lambda: hf_gpt2.encode(text))
                row["hf_tokenizers_mb_s"] = mb / t_hf
                row["ratio_vs_hf"] = ours1["mb_per_s"] / (mb / t_hf)
            rows.append(row)
    print("Encoding throughput, MB/s (single thread unless noted; best of 3)")
    print(f"{'file':26} {'vocab':7} {'tiktoken':>9} {'HF tok.':>8} {'tllm':>8} {'tllm 2T':>8} {'tllm/tiktoken':>14} {'tllm/HF':>8}")
    for r in rows:
        hf = r.get("hf_tokenizers_mb_s")
        print(f"{r['file']:26} {r['vocab']:7} {r['tiktoken_mb_s']:9.2f} {hf if hf else float('nan'):8.2f} {r['tllm_mb_s']:8.2f} "
              f"{r['tllm_2threads_mb_s']:8.2f} {r['ratio_vs_tiktoken']:14.2f} {r.get('ratio_vs_hf', float('nan')):8.2f}")

    # Training: 8192 tokens on Shakespeare.
    shk = os.path.join(ROOT, "corpora/shakespeare.txt")
    def hf_train():
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tr = trainers.BpeTrainer(vocab_size=8192, min_frequency=2, show_progress=False,
                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train([shk], tr)
    t_hf = best_of(2, hf_train)
    out = subprocess.check_output([TLLM, "tokenizer", "train", "--vocab-size", "8192", shk, "-o", "/tmp/tllm-bench-vocab.json", "--json"])
    ours = json.loads(out)
    t_ours = ours["seconds"]
    print(f"\nBPE training, 8192 tokens on shakespeare.txt: HF tokenizers {t_hf:.2f} s, tllm {t_ours:.2f} s "
          f"(tllm is {t_hf / t_ours:.1f}x faster)")
    print(json.dumps({"encode": rows, "train": {"hf_seconds": t_hf, "tllm_seconds": t_ours}}, indent=None))


if __name__ == "__main__":
    main()
