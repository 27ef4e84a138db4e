/// How tllm's parameter names map to GGUF tensor names (llama.cpp's, for the `gpt2` and `llama`
/// architectures) — the one table both the reader and the writer use. `{i}` is the block.
public enum GGUFNames {
    /// tllm name → GGUF name. A fused `c_attn` has no single counterpart in `llama` files (Q, K
    /// and V are separate there: see ``attentionParts``).
    public static let table: [(tllm: String, gguf: String)] = [
        ("transformer.wte.weight", "token_embd.weight"),
        ("transformer.wpe.weight", "position_embd.weight"),
        ("transformer.h.{i}.ln_1.weight", "blk.{i}.attn_norm.weight"),
        ("transformer.h.{i}.ln_1.bias", "blk.{i}.attn_norm.bias"),
        ("transformer.h.{i}.attn.c_attn.weight", "blk.{i}.attn_qkv.weight"),
        ("transformer.h.{i}.attn.c_attn.bias", "blk.{i}.attn_qkv.bias"),
        ("transformer.h.{i}.attn.c_proj.weight", "blk.{i}.attn_output.weight"),
        ("transformer.h.{i}.attn.c_proj.bias", "blk.{i}.attn_output.bias"),
        ("transformer.h.{i}.ln_2.weight", "blk.{i}.ffn_norm.weight"),
        ("transformer.h.{i}.ln_2.bias", "blk.{i}.ffn_norm.bias"),
        ("transformer.h.{i}.mlp.c_fc.weight", "blk.{i}.ffn_up.weight"),
        ("transformer.h.{i}.mlp.c_fc.bias", "blk.{i}.ffn_up.bias"),
        ("transformer.h.{i}.mlp.w_gate.weight", "blk.{i}.ffn_gate.weight"),
        ("transformer.h.{i}.mlp.w_gate.bias", "blk.{i}.ffn_gate.bias"),
        ("transformer.h.{i}.mlp.w_up.weight", "blk.{i}.ffn_up.weight"),
        ("transformer.h.{i}.mlp.c_proj.weight", "blk.{i}.ffn_down.weight"),
        ("transformer.h.{i}.mlp.c_proj.bias", "blk.{i}.ffn_down.bias"),
        ("transformer.ln_f.weight", "output_norm.weight"),
        ("transformer.ln_f.bias", "output_norm.bias"),
        ("lm_head.weight", "output.weight"),
    ]

    /// In `llama` files the fused QKV projection is three tensors.
    public static let attentionParts = ["blk.{i}.attn_q.weight", "blk.{i}.attn_k.weight", "blk.{i}.attn_v.weight"]

    /// The GGUF name of a tllm parameter name (nil: no counterpart).
    public static func gguf(_ tllm: String) -> String? {
        let (pattern, block) = generic(tllm)
        return table.first { $0.tllm == pattern }.map { instantiate($0.gguf, block) }
    }

    /// The GGUF name for tllm's `pattern` in block `i`.
    public static func gguf(_ pattern: String, block i: Int) -> String {
        instantiate(table.first { $0.tllm == pattern }!.gguf, i)
    }

    static func instantiate(_ s: String, _ block: Int?) -> String {
        block.map { s.replacingOccurrences(of: "{i}", with: String($0)) } ?? s
    }

    /// `transformer.h.3.ln_1.weight` → (`transformer.h.{i}.ln_1.weight`, 3).
    static func generic(_ name: String) -> (String, Int?) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 3, parts[0] == "transformer", parts[1] == "h", let i = Int(parts[2]) {
            return ((["transformer", "h", "{i}"] + parts.dropFirst(3)).joined(separator: "."), i)
        }
        return (name, nil)
    }
}
