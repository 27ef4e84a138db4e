#!/usr/bin/env python3
"""Pure-numpy fp32 reference forward pass of a llama-architecture GGUF model.

Every weight is dequantized with the `gguf` package (`gguf.quants.dequantize`) to float32 and the
whole prompt is run through the network in float32 (log-softmax in float64). No activation
quantization, no KV cache: this is the "ideal" fp32 answer the quantized weights imply, and the
yardstick tllm's GGUF inference is checked against.

Architecture handled (GGUF `general.architecture == "llama"`, e.g. SmolLM2, TinyLlama, Llama 2/3):
token_embd -> N x [RMSNorm -> Q/K/V (+ optional bias) -> RoPE (GGUF convention: ADJACENT pairs
(x[2i], x[2i+1]), theta_i = pos * base^(-2i/head_dim); GGUF converters permute the Q/K rows so HF's
rotate_half is NOT used) -> causal grouped-query attention (query head h uses KV head
h // (n_head / n_head_kv)) -> attn_output -> residual -> RMSNorm -> SwiGLU MLP
(down(silu(gate x) * up x)) -> residual] -> output_norm -> output (tied to token_embd when the file
has no output.weight).

Usage:

    python3 bench/gguf_reference.py MODEL.gguf --ids 504,3575,282 [--top 5] [--json [--full]]
        Log-probabilities (natural log) of the next token after the LAST given id.
        --json prints {"ids": [...], "top": [{"id", "logprob"}...], "logprobs": [...] (only --full)}.

    python3 bench/gguf_reference.py MODEL.gguf --prompt "The capital of Italy is"
        Same, tokenizing the text with llama.cpp's tokenizer via the optional `xllamacpp` package
        (only needed for --prompt; --ids and --compare need just numpy + gguf).

    python3 bench/gguf_reference.py MODEL.gguf --compare tllm.json [--tolerance 1e-3]
        tllm.json is the output of
            tllm generate --model MODEL.gguf --prompt P --max-tokens 1 --temperature 0 \
                          --logprobs K --json
        i.e. {"prompt_ids": [...], "tokens": [{"id", "text", "logprob",
              "top": [{"id", "text", "logprob"}, ...]}], ...}. The reference is run on prompt_ids and
        compared with the first generated token's "top" list (the distribution after the last prompt
        token). Prints max |delta logprob| over tllm's top-K ids and whether the argmax agrees.
        Exit status 1 if max |delta| > --tolerance, or if the argmaxes differ by more than a
        near-tie (reference logprob gap > tolerance); 0 otherwise.

Measured on SmolLM2-135M-Instruct.Q4_1.gguf, prompt "The capital of France is Paris. The capital
of Germany is Berlin. The capital of Italy is" (19 ids, no BOS): top-1 " Rome" (7268).
Cost: ~0.5 GB of float32 weights for a 135M model; a few seconds per call.
"""
import argparse
import json
import sys
import time

import numpy as np

try:
    import gguf
    from gguf import GGUFReader
except ImportError:  # pragma: no cover
    sys.exit("gguf_reference.py needs the `gguf` package: pip install gguf")


# ----------------------------------------------------------------------------------------------
# GGUF loading


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    v = f.contents()
    return v


def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class GGUFLlama:
    """fp32 llama forward pass from a GGUF file."""

    def __init__(self, path, verbose=False):
        t0 = time.time()
        self.reader = r = GGUFReader(path)
        arch = _field(r, "general.architecture")
        if arch != "llama":
            raise SystemExit(f"unsupported architecture {arch!r} (only 'llama')")
        a = arch + "."
        self.n_layer = int(_field(r, a + "block_count"))
        self.d_model = int(_field(r, a + "embedding_length"))
        self.n_head = int(_field(r, a + "attention.head_count"))
        self.n_head_kv = int(_field(r, a + "attention.head_count_kv", self.n_head))
        self.head_dim = int(_field(r, a + "attention.key_length", self.d_model // self.n_head))
        self.rope_dim = int(_field(r, a + "rope.dimension_count", self.head_dim))
        self.rope_base = float(_field(r, a + "rope.freq_base", 10000.0))
        self.eps = float(_field(r, a + "attention.layer_norm_rms_epsilon", 1e-5))
        if _field(r, a + "rope.scaling.type") not in (None, "none"):
            print("warning: rope scaling metadata present and IGNORED", file=sys.stderr)
        if self.n_head % self.n_head_kv:
            raise SystemExit("n_head must be a multiple of n_head_kv")
        self.tensors = {t.name: t for t in r.tensors}
        self._cache = {}
        # Load everything up front (keeps per-token timing honest and catches shape bugs early).
        self.tok_embd = self.w("token_embd.weight")  # (vocab, d_model)
        self.vocab = self.tok_embd.shape[0]
        self.output = self.w("output.weight") if "output.weight" in self.tensors else self.tok_embd
        self.output_norm = self.w("output_norm.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            L = {k: self.w(p + k + ".weight") for k in
                 ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
            for k in ("attn_q", "attn_k", "attn_v", "attn_output"):
                L[k + ".bias"] = self.w(p + k + ".bias") if (p + k + ".bias") in self.tensors else None
            self.layers.append(L)
        self._tokens = None
        if verbose:
            print(f"loaded {path}: {self.n_layer} layers, d={self.d_model}, heads {self.n_head}/{self.n_head_kv}x{self.head_dim}, "
                  f"rope base {self.rope_base}, eps {self.eps}, vocab {self.vocab}, "
                  f"tied output={'output.weight' not in self.tensors} ({time.time() - t0:.1f}s)", file=sys.stderr)

    def w(self, name):
        t = self.tensors[name]
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        arr = np.asarray(arr, dtype=np.float32)
        # GGUF shape is [ne0 (= in), ne1 (= out)]; numpy layout is reversed -> (out, in).
        want = tuple(int(x) for x in reversed(list(t.shape)))
        if len(want) == 1:
            arr = arr.reshape(want)
        if arr.shape != want:
            raise SystemExit(f"{name}: dequantized shape {arr.shape} != expected {want}")
        return np.ascontiguousarray(arr)

    # -- tokens (display only) ---------------------------------------------------------------
    def token_text(self, i):
        if self._tokens is None:
            f = self.reader.fields.get("tokenizer.ggml.tokens")
            self._tokens = [] if f is None else [bytes(f.parts[j]).decode("utf-8", "replace") for j in f.data]
            self._gpt2 = _field(self.reader, "tokenizer.ggml.model") == "gpt2"
            self._b2u = _bytes_to_unicode()
        if not (0 <= i < len(self._tokens)):
            return f"<{i}>"
        s = self._tokens[i]
        if self._gpt2:
            try:
                return bytes(self._b2u[c] for c in s).decode("utf-8", "replace")
            except KeyError:
                return s
        return s.replace("\u2581", " ")

    # -- forward -----------------------------------------------------------------------------
    def _rms(self, x, w):
        return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(self.eps))) * w

    def _rope(self, x, pos):
        # x: (T, H, head_dim); rotate adjacent pairs of the first rope_dim dims.
        d = self.rope_dim
        inv = self.rope_base ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # (d/2,)
        ang = pos[:, None].astype(np.float64) * inv[None, :]  # (T, d/2)
        cos = np.cos(ang).astype(np.float32)[:, None, :]
        sin = np.sin(ang).astype(np.float32)[:, None, :]
        xr = x[..., :d]
        x0 = xr[..., 0::2]
        x1 = xr[..., 1::2]
        out = np.empty_like(x)
        out[..., 0:d:2] = x0 * cos - x1 * sin
        out[..., 1:d:2] = x0 * sin + x1 * cos
        out[..., d:] = x[..., d:]
        return out

    def forward(self, ids):
        """Return float64 log-probabilities (vocab,) of the token after ids[-1]."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or len(ids) == 0:
            raise ValueError("need at least one token id")
        if ids.min() < 0 or ids.max() >= self.vocab:
            raise ValueError(f"token id out of range [0, {self.vocab})")
        T, H, KV, D = len(ids), self.n_head, self.n_head_kv, self.head_dim
        group = H // KV
        pos = np.arange(T)
        x = self.tok_embd[ids].astype(np.float32)  # (T, d)
        mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), k=1)
        scale = np.float32(1.0 / np.sqrt(D))
        for L in self.layers:
            h = self._rms(x, L["attn_norm"])
            q = h @ L["attn_q"].T
            k = h @ L["attn_k"].T
            v = h @ L["attn_v"].T
            if L["attn_q.bias"] is not None:
                q = q + L["attn_q.bias"]
            if L["attn_k.bias"] is not None:
                k = k + L["attn_k.bias"]
            if L["attn_v.bias"] is not None:
                v = v + L["attn_v.bias"]
            q = self._rope(q.reshape(T, H, D), pos)
            k = self._rope(k.reshape(T, KV, D), pos)
            v = v.reshape(T, KV, D)
            # query head h uses kv head h // group
            k = np.repeat(k, group, axis=1)  # (T, H, D)
            v = np.repeat(v, group, axis=1)
            s = np.einsum("thd,shd->hts", q, k) * scale + mask  # (H, T, T)
            s = s - s.max(axis=-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=-1, keepdims=True)
            a = np.einsum("hts,shd->thd", p, v).reshape(T, H * D)
            o = a @ L["attn_output"].T
            if L["attn_output.bias"] is not None:
                o = o + L["attn_output.bias"]
            x = x + o
            h = self._rms(x, L["ffn_norm"])
            g = h @ L["ffn_gate"].T
            u = h @ L["ffn_up"].T
            x = x + ((g / (1.0 + np.exp(-g))) * u) @ L["ffn_down"].T
        h = self._rms(x[-1:], self.output_norm)
        logits = (h @ self.output.T)[0].astype(np.float64)
        m = logits.max()
        return logits - (m + np.log(np.exp(logits - m).sum()))


# ----------------------------------------------------------------------------------------------
# CLI


def tokenize_with_llamacpp(model_path, text):
    """Token ids of text (with the model's add_bos setting) from llama.cpp via xllamacpp."""
    import urllib.request
    try:
        import xllamacpp as xlc
    except ImportError:
        raise SystemExit("--prompt needs the `xllamacpp` package (or pass --ids)")
    p = xlc.CommonParams()
    p.model.path = model_path
    p.n_ctx = 256
    p.n_parallel = 1
    p.warmup = False
    p.port = 0  # any free port on 127.0.0.1
    p.cpuparams.n_threads = 1
    p.cpuparams_batch.n_threads = 1
    srv = xlc.Server(p)
    req = urllib.request.Request(srv.listening_address + "/tokenize",
                                 data=json.dumps({"content": text, "add_special": True}).encode(),
                                 headers={"Content-Type": "application/json"})
    ids = json.loads(urllib.request.urlopen(req, timeout=60).read())["tokens"]
    del srv
    return [int(i) for i in ids]


def parse_ids(s):
    return [int(x) for x in s.replace(" ", "").split(",") if x]


def run_compare(model, path, tol, as_json):
    d = json.load(open(path))
    ids = d["prompt_ids"]
    first = d["tokens"][0]
    top = first.get("top") or []
    if not top:
        raise SystemExit(f"{path}: tokens[0].top is empty (run tllm with --logprobs K)")
    lp = model.forward(ids)
    ref_arg = int(np.argmax(lp))
    rows = []
    for t in top:
        tid = int(t["id"])
        rows.append({"id": tid, "text": t.get("text", model.token_text(tid)), "tllm": float(t["logprob"]),
                     "ref": float(lp[tid]), "delta": float(t["logprob"]) - float(lp[tid])})
    max_d = max(abs(r["delta"]) for r in rows)
    tllm_arg = int(top[0]["id"])
    if "id" in first and int(first["id"]) != tllm_arg:
        print(f"note: tokens[0].id={first['id']} differs from top[0].id={tllm_arg}; using top[0]", file=sys.stderr)
    agree = tllm_arg == ref_arg
    near_tie = (not agree) and (lp[ref_arg] - lp[tllm_arg]) <= tol
    ok = max_d <= tol and (agree or near_tie)
    if as_json:
        print(json.dumps({"ids": ids, "max_abs_delta": max_d, "argmax_ref": ref_arg, "argmax_tllm": tllm_arg,
                          "argmax_agree": agree, "tolerance": tol, "ok": ok, "rows": rows}))
    else:
        print(f"prompt: {len(ids)} ids; comparing tllm's top-{len(rows)} against the fp32 numpy reference")
        print(f"{'id':>7}  {'text':<16} {'tllm':>11} {'reference':>11} {'delta':>10}")
        for r in rows:
            print(f"{r['id']:>7}  {json.dumps(r['text'])[:16]:<16} {r['tllm']:>11.5f} {r['ref']:>11.5f} {r['delta']:>+10.2e}")
        print(f"max |delta logprob| = {max_d:.3e} (tolerance {tol:g})")
        print(f"argmax: tllm {tllm_arg} {json.dumps(model.token_text(tllm_arg))}, reference {ref_arg} "
              f"{json.dumps(model.token_text(ref_arg))} -> {'AGREE' if agree else ('near-tie' if near_tie else 'DISAGREE')}")
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="llama-architecture .gguf file")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="comma-separated prompt token ids")
    g.add_argument("--prompt", help="prompt text (tokenized by llama.cpp through xllamacpp)")
    g.add_argument("--compare", metavar="TLLM_JSON", help="compare with `tllm generate ... --logprobs K --json` output")
    ap.add_argument("--top", type=int, default=5, help="how many top tokens to print (default 5)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--full", action="store_true", help="with --json: include all vocab logprobs")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="--compare: max allowed |delta logprob| (default 1e-3)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print load info / timing to stderr")
    a = ap.parse_args(argv)

    model = GGUFLlama(a.model, verbose=a.verbose)
    if a.compare:
        return run_compare(model, a.compare, a.tolerance, a.json)

    ids = parse_ids(a.ids) if a.ids else tokenize_with_llamacpp(a.model, a.prompt)
    t0 = time.time()
    lp = model.forward(ids)
    if a.verbose:
        print(f"forward over {len(ids)} tokens: {time.time() - t0:.2f}s", file=sys.stderr)
    order = np.argsort(-lp, kind="stable")[: a.top]
    top = [{"id": int(i), "logprob": float(lp[i])} for i in order]
    if a.json:
        out = {"ids": ids, "top": top}
        if a.full:
            out["logprobs"] = [float(x) for x in lp]
        print(json.dumps(out))
    else:
        print(f"ids ({len(ids)}): {','.join(map(str, ids))}")
        print(f"next-token log-probabilities after position {len(ids) - 1}:")
        for rnk, t in enumerate(top, 1):
            print(f"  {rnk:>2}. id {t['id']:>6}  {json.dumps(model.token_text(t['id'])):<18} logprob {t['logprob']:.6f}"
                  f"  p={np.exp(t['logprob']):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
