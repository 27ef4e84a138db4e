#!/usr/bin/env python3
"""One SimCLR epoch on the digits: tllm against PyTorch eager, same CNN, batch, optimizer and loss,
augmentations off (identical views), 2 threads, interleaved and repeated.

    python3 bench/contrastive_vs_pytorch.py [--reps 3] [--epochs 5] [--threads 2] [--tllm .build/release/tllm]

Model (both): conv 3×3 1→32, BN, ReLU; conv 3×3 32→64, BN, ReLU; max-pool 2; conv 3×3 64→64, BN, ReLU;
global average → 64; head linear 64→64, ReLU, linear 64→32; NT-Xent τ = 0.2 over 2×256 views;
AdamW lr 2e-3. Data: the 1,258-image training pool of tllm's split (4 steps of 256 per epoch).
The time per epoch is the median over the epochs after the first (warm-up), per process; the table
gives the median over repetitions and the ratio tllm / PyTorch (below 1: tllm faster).
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--tllm", default=".build/release/tllm")
ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
args = ap.parse_args()

def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()

def torch_child():
    import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    rows = np.loadtxt("corpora/digits.csv", delimiter=",", skiprows=0, dtype=np.float32)
    x = torch.tensor(rows[:, 1:] / 16.0).reshape(-1, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    pool = x[torch.randperm(len(x), generator=g)[:1258]]
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    B, tau = 256, 0.2
    def ntxent(z1, z2):
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        s = z @ z.t() / tau
        s.fill_diagonal_(-1e9)
        n = z1.shape[0]
        t = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        return F.cross_entropy(s, t)
    times = []
    for e in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(pool))
        for s in range(len(pool) // B):
            b = pool[perm[s * B:(s + 1) * B]]
            loss = ntxent(net(b), net(b))
            opt.zero_grad(); loss.backward(); opt.step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"epoch_seconds": times, "loss": loss.item()}))

if args.torch_child:
    torch_child(); sys.exit(0)

env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
def median(v):
    v = sorted(v); return v[len(v) // 2]
res = {"tllm": [], "pytorch": []}
for r in range(args.reps):
    for engine in (["tllm", "pytorch"] if r % 2 == 0 else ["pytorch", "tllm"]):
        if engine == "tllm":
            out = tempfile.mkdtemp() + "/run"
            p = subprocess.run([args.tllm, "contrastive", "--method", "simclr", "--epochs", str(args.epochs), "--batch", "256",
                                "--no-augmentation", "--threads", str(args.threads), "--out", out, "--json"],
                               capture_output=True, text=True, env=env, check=True)
            e = json.loads(p.stdout)["epoch_seconds"]
        else:
            p = subprocess.run([sys.executable, __file__, "--torch-child", "--epochs", str(args.epochs), "--threads", str(args.threads)],
                               capture_output=True, text=True, env=env, check=True)
            e = json.loads(p.stdout)["epoch_seconds"]
        per = median(e[1:]) if len(e) > 1 else e[0]
        res[engine].append(per)
        print(f"[{r + 1}/{args.reps}] {engine:8s} {per * 1000:.0f} ms/epoch", flush=True)
import torch
t, p = median(res["tllm"]), median(res["pytorch"])
print(f"\nCPU: {cpu_name()}; {args.threads} threads; torch {torch.__version__}; {args.reps} interleaved repetitions")
print("| engine | ms per SimCLR epoch (median) | ratio tllm/PyTorch |")
print("|---|---:|---:|")
print(f"| tllm | {t * 1000:.0f} | {t / p:.2f} |")
print(f"| PyTorch eager | {p * 1000:.0f} | 1.00 |")
