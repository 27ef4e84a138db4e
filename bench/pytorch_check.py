#!/usr/bin/env python3
"""Numerical agreement of tllm's GPT with the same model in PyTorch.

    tllm bench numerics --vocab-size 4096 --layers 4 --d-model 128 --heads 2 --context 128 --batch 8 -o /tmp/num
    python3 bench/pytorch_check.py /tmp/num

Loads tllm's initial weights (model.safetensors: nanoGPT names, nn.Linear layout) into the PyTorch
GPT of bench/pytorch_gpt.py, feeds the same batches, and reports: max |Δ| of the first batch's
logits and the loss difference; the worst relative gradient difference per parameter; and the loss
difference over the recorded AdamW steps (same optimiser settings, float32, constant lr).
"""
import json, os, struct, sys
import numpy as np
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_gpt import GPT  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(e["shape"]).copy())
    return out


def read_shard(path):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == b"TLLMTOK1"
    width = struct.unpack("<I", raw[12:16])[0]
    count = struct.unpack("<Q", raw[16:24])[0]
    return np.frombuffer(raw[32:], dtype=np.uint16 if width == 2 else np.uint32)[:count].astype(np.int64)


def main():
    d = sys.argv[1]
    torch.set_num_threads(2)
    cfg = json.load(open(os.path.join(d, "config.json")))["model"]
    run = json.load(open(os.path.join(d, "run.json")))
    B, T, V = run["batch"], run["context"], cfg["vocab_size"]
    m = GPT(V, cfg["context"], cfg["layers"], cfg["d_model"], cfg["heads"])
    weights = read_safetensors(os.path.join(d, "model.safetensors"))
    missing, unexpected = m.load_state_dict(weights, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    toks = read_shard(os.path.join(d, "batches.bin")).reshape(run["steps"], B, T + 1)
    ref = read_safetensors(os.path.join(d, "first-batch.safetensors"))

    x, y = torch.from_numpy(toks[0, :, :-1]), torch.from_numpy(toks[0, :, 1:])
    logits, loss = m(x, y)
    dl = (logits[: ref["logits"].shape[0]] - ref["logits"]).abs().max().item()
    print(f"first batch: max |Δ logits| = {dl:.2e}; loss torch {loss.item():.6f} tllm {run['first_loss']:.6f} (Δ {abs(loss.item() - run['first_loss']):.2e})")
    loss.backward()
    worst = 0.0
    for n, p in m.named_parameters():
        g, r = p.grad, ref["grad." + n]
        rel = ((g - r).norm() / (r.norm() + 1e-12)).item()
        worst = max(worst, rel)
        if rel > 1e-3:
            print(f"  gradient {n}: relative difference {rel:.2e}")
    print(f"gradients: worst relative difference (‖Δ‖/‖g‖) over {sum(1 for _ in m.parameters())} parameters = {worst:.2e}")

    m.zero_grad(set_to_none=True)
    decay = [p for p in m.parameters() if p.dim() >= 2]
    rest = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=run["learning_rate"], betas=(0.9, 0.95), eps=1e-8)
    diffs = []
    for s in range(run["steps"]):
        x, y = torch.from_numpy(toks[s, :, :-1]), torch.from_numpy(toks[s, :, 1:])
        _, loss = m(x, y)
        diffs.append(abs(loss.item() - run["losses"][s]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    print(f"{run['steps']} AdamW steps: max |Δ loss| = {max(diffs):.2e} (final loss torch {loss.item():.5f}, tllm {run['losses'][-1]:.5f})")
    ok = dl <= 1e-4 and worst <= 1e-3 and max(diffs) <= 1e-3
    print("PASS" if ok else "FAIL", "(targets: logits 1e-4, gradients 1e-3 relative, losses 1e-3)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
