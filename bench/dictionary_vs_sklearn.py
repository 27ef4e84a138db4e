#!/usr/bin/env python3
"""tllm's dictionary learning against scikit-learn, interleaved in one run, on the digits
scaled to [0, 1] (÷16), both with the same thread count.

Three cases, as issue 15 states them:
  online  MiniBatchDictionaryLearning(n_components=64, alpha=1)        vs tllm dict learn --online
  batch   DictionaryLearning(n_components=64, alpha=1, max_iter=30)    vs tllm dict learn --iterations 30
  encode  sparse_encode(algorithm="lasso_cd", alpha=0.1), k = 64        vs tllm dict encode --method cd --alpha 0.1

Every dictionary — scikit-learn's and tllm's — is scored the same way: scikit-learn's
`sparse_encode(lasso_cd)` codes at the case's α, objective = mean over samples of
½‖x − uD‖² + α‖u‖₁. Times are fit (or encode) seconds inside each process (tllm reports its
own; Python's import and tllm's start-up are excluded). Several seeds per case; the table gives
the median time and mean objective, the CSV every run.

    python3 bench/dictionary_vs_sklearn.py [--reps 5] [--threads 2] [--csv docs/results/dictionary-vs-sklearn.csv]
"""
import argparse, csv, json, os, platform, struct, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--tllm", default=".build/release/tllm")
ap.add_argument("--csv", default=None)
args = ap.parse_args()
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread variables)
import sklearn  # noqa: E402
from sklearn.decomposition import DictionaryLearning, MiniBatchDictionaryLearning, sparse_encode  # noqa: E402
import warnings  # noqa: E402
warnings.filterwarnings("ignore")

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
data = np.loadtxt(os.path.join(root, "corpora", "digits.csv"), delimiter=",")
X = data[:, 1:] / 16.0


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def objective(D, alpha):
    U = sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha)
    return float((0.5 * ((X - U @ D) ** 2).sum() + alpha * np.abs(U).sum()) / len(X)), float((U != 0).sum(1).mean())


def read_dictionary(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    t = header["components"]
    a, b = t["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"]).astype(np.float64)


def tllm(*argv):
    out = subprocess.run([args.tllm, *argv, "--threads", str(args.threads), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


tmp = tempfile.mkdtemp()
rows = []


def record(case, impl, seed, seconds, D, alpha, extra=""):
    obj, nz = objective(D, alpha)
    rows.append(dict(case=case, implementation=impl, seed=seed, seconds=seconds, objective=obj, nonzeros=nz, note=extra))
    print(f"{case:7s} {impl:8s} seed {seed}: {seconds:7.3f} s  objective {obj:.4f}  non-zeros {nz:.2f} {extra}", file=sys.stderr)


shared = None
for rep in range(args.reps):
    # online
    m = MiniBatchDictionaryLearning(n_components=64, alpha=1, random_state=rep)
    t = time.perf_counter(); m.fit(X); t = time.perf_counter() - t
    record("online", "sklearn", rep, t, m.components_, 1.0, f"{m.n_steps_} batches")
    p = os.path.join(tmp, f"online-{rep}.safetensors")
    r = tllm("dict", "learn", "--online", "--seed", str(rep), "-o", p)
    record("online", "tllm", rep, r["seconds"], read_dictionary(p), 1.0, f"{r['iterations']} batches")
    # batch
    m = DictionaryLearning(n_components=64, alpha=1, max_iter=30, random_state=rep)
    t = time.perf_counter(); m.fit(X); t = time.perf_counter() - t
    record("batch", "sklearn", rep, t, m.components_, 1.0, f"{m.n_iter_} iterations")
    p = os.path.join(tmp, f"batch-{rep}.safetensors")
    r = tllm("dict", "learn", "--iterations", "30", "--seed", str(rep), "-o", p)
    record("batch", "tllm", rep, r["seconds"], read_dictionary(p), 1.0, f"{r['iterations']} iterations")
    if shared is None:
        shared = p
    # encode: the same dictionary (tllm's first batch one) on both sides
    D = read_dictionary(shared)
    t = time.perf_counter(); U = sparse_encode(X, D, algorithm="lasso_cd", alpha=0.1); t = time.perf_counter() - t
    record("encode", "sklearn", rep, t, D, 0.1)
    r = tllm("dict", "encode", "--dictionary", shared, "--method", "cd", "--alpha", "0.1")
    rows.append(dict(case="encode", implementation="tllm", seed=rep, seconds=r["seconds"], objective=r["objective"],
                     nonzeros=r["nonzeros"], note="tllm's own codes"))
    print(f"encode  tllm     seed {rep}: {r['seconds']:7.3f} s  objective {r['objective']:.4f}  non-zeros {r['nonzeros']:.2f} (its own codes)", file=sys.stderr)

print(f"\nCPU: {cpu_name()}; {args.threads} threads; scikit-learn {sklearn.__version__}, numpy {np.__version__}; {args.reps} seeds each\n")
print("| case | scikit-learn s (median) | tllm s (median) | time ratio tllm/sklearn | sklearn objective (mean) | tllm objective (mean) | Δ objective |")
print("|---|---:|---:|---:|---:|---:|---:|")
for case in ("online", "batch", "encode"):
    s = [r for r in rows if r["case"] == case and r["implementation"] == "sklearn"]
    t = [r for r in rows if r["case"] == case and r["implementation"] == "tllm"]
    ms, mt = float(np.median([r["seconds"] for r in s])), float(np.median([r["seconds"] for r in t]))
    os_, ot = float(np.mean([r["objective"] for r in s])), float(np.mean([r["objective"] for r in t]))
    print(f"| {case} | {ms:.3f} | {mt:.3f} | {mt / ms:.3f} | {os_:.4f} | {ot:.4f} | {100 * (ot - os_) / os_:+.2f}% |")
if args.csv:
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) + ["cpu", "threads"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "cpu": cpu_name(), "threads": args.threads})
    print(f"\nwrote {args.csv}", file=sys.stderr)
