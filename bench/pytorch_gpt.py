#!/usr/bin/env python3
"""The same GPT in PyTorch, for side-by-side throughput (and, with --check, numerics).

Throughput: `python3 bench/pytorch_gpt.py --vocab-size 4096 --layers 4 --d-model 128 --heads 2
--context 128 --batch 16 --steps 20 --json` times eager CPU training steps (forward, backward, clip,
AdamW) on random tokens with torch.set_num_threads(--threads), and KV-cache generation at batch 1.
The model is nanoGPT's: learned positions, pre-LayerNorm, GELU(tanh) MLP ×4, tied output.
"""
import argparse, json, math, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h, dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(d, 3 * d)
        self.attn.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(d, 4 * d)
        self.mlp.c_proj = nn.Linear(4 * d, d)
        self.h = h

    def attend(self, x, cache=None):
        B, T, C = x.shape
        q, k, v = self.attn.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        if cache is not None:
            if cache.get("k") is not None:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
            y = F.scaled_dot_product_attention(q, k, v, is_causal=(T > 1))
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.attn.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x, cache=None):
        x = x + self.attend(self.ln_1(x), cache)
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, d, heads):
        super().__init__()
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(vocab, d)
        self.transformer.wpe = nn.Embedding(context, d)
        self.transformer.h = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.transformer.ln_f = nn.LayerNorm(d)
        self.layers = layers
        self.apply(self._init)
        for n, p in self.named_parameters():
            if n.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))

    def _init(self, m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, idx, targets=None, caches=None, pos0=0):
        B, T = idx.shape
        pos = torch.arange(pos0, pos0 + T)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for i, b in enumerate(self.transformer.h):
            x = b(x, None if caches is None else caches[i])
        x = self.transformer.ln_f(x)
        logits = x @ self.transformer.wte.weight.t()
        if targets is None:
            return logits
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--d-model", type=int, default=384)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--generate", type=int, default=0, help="also time N tokens of KV-cache generation")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    m = GPT(a.vocab_size, a.context, a.layers, a.d_model, a.heads)
    decay = [p for p in m.parameters() if p.dim() >= 2]
    no_decay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), foreach=True)
    batches = [(torch.randint(0, a.vocab_size, (a.batch, a.context)), torch.randint(0, a.vocab_size, (a.batch, a.context)))
               for _ in range(4)]

    def step(i):
        x, y = batches[i % 4]
        _, loss = m(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for i in range(2):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i)
    dt = (time.perf_counter() - t0) / a.steps
    n = sum(p.numel() for p in m.parameters()) - m.transformer.wpe.weight.numel()
    flops_per_token = 6 * n + 12 * a.layers * a.heads * (a.d_model // a.heads) * a.context
    tokens = a.batch * a.context
    out = {"framework": "pytorch " + torch.__version__, "threads": a.threads, "step_seconds": dt,
           "tokens_per_s": tokens / dt, "gflops": flops_per_token * tokens / dt / 1e9,
           "parameters": sum(p.numel() for p in m.parameters()),
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if a.generate:
        m.eval()
        with torch.no_grad():
            caches = [dict() for _ in range(a.layers)]
            idx = torch.randint(0, a.vocab_size, (1, 1))
            m(idx, caches=caches, pos0=0)
            steps = min(a.generate, a.context - 2)
            t0 = time.perf_counter()
            for t in range(1, steps + 1):
                logits = m(idx, caches=caches, pos0=t)
                idx = torch.argmax(logits[:, -1, :], dim=-1, keepdim=True)
            out["generate_tokens_per_s"] = steps / (time.perf_counter() - t0)
    if a.json:
        print(json.dumps(out))
    else:
        print(out)


if __name__ == "__main__":
    main()
