#!/usr/bin/env python3
"""Training and generation throughput: tllm vs PyTorch eager CPU, same model, same threads, one run.

For the ~1M (vocab 4096, 4 layers, d 128, context 128, batch 16) and ~10M (vocab 8192, 6 layers,
d 384, context 256, batch 16) GPTs, alternates `tllm bench train/generate --json` and
`bench/pytorch_gpt.py --json` (best of `--rounds`), and prints tokens/s, model GFLOP/s, MFU against
`tllm bench gemm`'s peak, peak RSS and the ratios.

    pip install torch && swift build -c release && python3 bench/compare_training.py
"""
import argparse, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TLLM = os.path.join(ROOT, ".build/release/tllm")
CONFIGS = {
    "1M": dict(vocab=4096, layers=4, d=128, heads=2, context=128, batch=16, steps=30, gen=120),
    "10M": dict(vocab=8192, layers=6, d=384, heads=6, context=256, batch=16, steps=8, gen=250),
}


def run(cmd):
    return json.loads(subprocess.check_output(cmd, cwd=ROOT).decode().strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    gemm = run([TLLM, "bench", "gemm", "--json", "--threads", str(a.threads)])
    peak = gemm["peak_gflops"]
    print(f"sgemm peak (tllm bench gemm, core {gemm['core']}): {peak:.1f} GFLOP/s, {a.threads} threads\n")
    rows = []
    for name, c in CONFIGS.items():
        arch = ["--vocab-size", str(c["vocab"]), "--layers", str(c["layers"]), "--d-model", str(c["d"]), "--heads", str(c["heads"]),
                "--context", str(c["context"])]
        best = {}
        for _ in range(a.rounds):
            t = run([TLLM, "bench", "train", *arch, "--batch", str(c["batch"]), "--steps", str(c["steps"]), "--threads", str(a.threads),
                     "--peak-gflops", str(peak), "--json"])
            g = run([TLLM, "bench", "generate", *arch, "--tokens", str(c["gen"]), "--threads", str(a.threads), "--json"])
            q = run([TLLM, "bench", "generate", *arch, "--tokens", str(c["gen"]), "--quantize", "q8_0", "--threads", str(a.threads), "--json"])
            p = run([sys.executable, os.path.join(ROOT, "bench/pytorch_gpt.py"), *arch, "--batch", str(c["batch"]), "--steps", str(c["steps"]),
                     "--threads", str(a.threads), "--generate", str(c["gen"]), "--json"])
            for k, v in [("tllm", t), ("tllm_gen", g), ("tllm_q8", q), ("torch", p)]:
                key = "decode_tokens_per_s" if k in ("tllm_gen", "tllm_q8") else "tokens_per_s"
                if k not in best or v[key] > best[k][key]:
                    best[k] = v
        t, g, q, p = best["tllm"], best["tllm_gen"], best["tllm_q8"], best["torch"]
        rows.append((name, t, g, q, p))
        print(f"~{name} ({t['parameters'] / 1e6:.2f}M parameters)")
        print(f"  training   tllm {t['tokens_per_s']:8.0f} tok/s  {t['gflops']:6.1f} GFLOP/s  MFU {100 * t['mfu']:5.1f}%  RSS {t['peak_rss_bytes'] / 2**30:.2f} GiB"
              f"{'  (data-parallel)' if t.get('data_parallel') else ''}")
        print(f"             torch {p['tokens_per_s']:7.0f} tok/s  {p['gflops']:6.1f} GFLOP/s  MFU {100 * p['gflops'] / peak:5.1f}%  RSS {p['peak_rss_bytes'] / 2**30:.2f} GiB"
              f"  ({p['framework']})")
        print(f"             ratio tllm/torch {t['tokens_per_s'] / p['tokens_per_s']:.2f}x;  memory {t['peak_rss_bytes'] / p['peak_rss_bytes']:.2f}x")
        print(f"  generation tllm {g['decode_tokens_per_s']:8.0f} tok/s   torch {p['generate_tokens_per_s']:7.0f} tok/s   "
              f"ratio {g['decode_tokens_per_s'] / p['generate_tokens_per_s']:.2f}x")
        print(f"  generation tllm Q8_0 {q['decode_tokens_per_s']:5.0f} tok/s   ratio to torch fp32 {q['decode_tokens_per_s'] / p['generate_tokens_per_s']:.2f}x\n")
    print(json.dumps({"peak_gflops": peak, "results": [{"config": n, "tllm_train": t, "tllm_generate": g, "tllm_generate_q8_0": q, "torch": p}
                                                       for n, t, g, q, p in rows]}))


if __name__ == "__main__":
    main()
