#!/usr/bin/env python3
"""Reference token ids from tiktoken for tllm's parity tests.

Builds tiktoken Encodings from the vocabulary files in vocab/ (no download), encodes the bundled
corpora and a hand-written set of hard strings, and writes
Tests/TLLMTokenizerTests/Fixtures/parity.json: per (vocabulary, corpus) the token count, an FNV-1a-64
checksum of the id stream (little-endian uint32) and the first 3000 ids; per hard string all ids.

    pip install tiktoken && python3 bench/tiktoken_reference.py
"""
import base64, json, os, sys
import tiktoken
from tiktoken_ext.openai_public import r50k_pat_str, cl100k_base

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def gpt2_encoding():
    enc = json.load(open(os.path.join(ROOT, "vocab/gpt2/encoder.json")))
    dec = bytes_to_unicode()
    ranks = {bytes(dec[ch] for ch in tok): i for tok, i in enc.items() if tok != "<|endoftext|>"}
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})


def cl100k_encoding():
    ranks = {}
    for line in open(os.path.join(ROOT, "vocab/cl100k/cl100k_base.tiktoken"), "rb"):
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    import tiktoken_ext.openai_public as op, inspect
    src = inspect.getsource(op.cl100k_base)
    pat = src.split('"pat_str": r"""')[1].split('"""')[0]
    return tiktoken.Encoding("cl100k", pat_str=pat, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                                             "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276})


def fnv1a64(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


HARD = [
    "Hello world",
    "'s 'S 't 'T 're 'RE 'Re 'rE 've 'VE 'm 'M 'll 'LL 'Ll 'lL 'd 'D",
    "don't DON'T Don'T we'LL they'Re it'S I'M you'VE he'D",
    "'sam 'tis 'ſ x'ſb 'K 'ǅ",
    "a  b   c    d\n\nword  \n  word\t\tword x \n\n y",
    "end   ", "end\n  ", "end \n", "\r\n\r\nline\r\n", "\n\n\n", "   ", " ", "\n",
    "abc123def 4567 12345678 3.14159 1,000,000 x2y3 ٣٤٥ ½ Ⅻ",
    "👍🏽 👨‍👩‍👧 🇫🇷 🙂🙂 ❤️",
    "你好，世界。日本語のテキスト 한국어 テスト",
    "مرحبا بالعالم عربي",
    "e\u0301 cafe\u0301 a\u0308\u0304 \u0301x",
    "a\u200db \u200c c\u200bd \ufeffe",
    "a\u00a0b \u2003c \u3000d \u202fe \u2028f \u0085g \u1680h \u205fi",
    "\u0001\u0002\u007f\u001b[0m \u000b\u000c \u001c\u001d\u001e\u001f",
    "!!!" * 70 + " " + "." * 50,
    " " * 300 + "x",
    "a" * 1000,
    "<|endoftext|> is plain text here",
    "MixedCASE snake_case kebab-case CamelCase HTTPServer",
    "Tab\tseparated\tvalues\n\tindented",
    "(parenthesised) [bracketed] {braced} \"quoted\" 'single'",
    "  leading spaces and trailing   \n",
    "ÀÉÎÕÜ àéîõü ß ẞ ﬁ ﬀ",
    "Ελληνικά Русский текст עברית हिन्दी",
    "x\n\n\n\ny \n \n z",
    "!\n\nfoo ?\r\n bar",
]


def main():
    out = {"tiktoken": tiktoken.__version__, "corpora": [], "strings": []}
    encs = {"gpt2": gpt2_encoding(), "cl100k": cl100k_encoding()}
    assert encs["gpt2"].encode("Hello world") == [15496, 995]
    for vname, enc in encs.items():
        for corpus in ["corpora/shakespeare.txt", "corpora/kjv.txt"]:
            text = open(os.path.join(ROOT, corpus), encoding="utf-8").read()
            ids = enc.encode_ordinary(text)
            out["corpora"].append({"vocab": vname, "file": corpus, "count": len(ids), "fnv1a64": fnv1a64(ids), "head": ids[:3000]})
            print(vname, corpus, len(ids), file=sys.stderr)
        for s in HARD:
            out["strings"].append({"vocab": vname, "text": s, "ids": enc.encode_ordinary(s)})
    path = os.path.join(ROOT, "Tests/TLLMTokenizerTests/Fixtures/parity.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False)
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
