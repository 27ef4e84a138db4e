import Foundation
import TLLMCore
import TLLMTokenizer

/// Writes a tllm GPT as a GGUF file llama.cpp opens: the `gpt2` architecture for GPT-2-style
/// models (LayerNorm, GELU, learned positions, biases, fused QKV), `llama` for Llama-style ones
/// (RMSNorm, SwiGLU, RoPE, no biases; Q and K rows permuted for GGUF's adjacent-pair RoPE when the
/// model rotates halves). Matrices are stored as `type` (f32 when a row is not whole blocks),
/// norms, biases and position tables as f32; the tokenizer goes in as `tokenizer.ggml.*`.
public enum GGUFExport {
    public static func write(_ model: GPTModel, tokenizer: Tokenizer, type: QuantType, name: String, to url: URL) throws {
        let c = model.config
        let llama = c.norm == .rmsnorm && c.activation == .swiglu && c.positions == .rope && !c.bias && !c.attentionOnly
        let gpt2 = c.norm == .layernorm && c.activation == .gelu && c.positions == .learned && c.bias && c.kvHeads == c.heads && !c.attentionOnly
        guard llama || gpt2 else {
            throw TLLMError("GGUF export covers GPT-2-style (layernorm, gelu, learned positions, biases) and Llama-style (rmsnorm, swiglu, rope, no biases) models")
        }
        var w = GGUFWriter()
        let arch = llama ? "llama" : "gpt2"
        metadata(&w, c, arch: arch, type: type, name: name)
        tokenizerMetadata(&w, tokenizer, arch: arch)
        for (n, t) in model.namedParameters {
            let rows = t.rank == 2 ? t.shape[0] : 1, cols = t.lastDim
            let matrixType = t.rank == 2 && cols % type.blockSize == 0 && !n.hasSuffix("wpe.weight") ? type : .f32
            if llama, n.hasSuffix("attn.c_attn.weight") {
                try splitAttention(&w, t, name: n, config: c, type: matrixType)
                continue
            }
            guard let g = GGUFNames.gguf(n) else { throw TLLMError("parameter \(n) has no GGUF name") }
            w.add(g, t.data, rows: rows, cols: cols, type: matrixType)
        }
        try w.write(to: url)
    }

    static func metadata(_ w: inout GGUFWriter, _ c: ModelConfig, arch: String, type: QuantType, name: String) {
        w.set("general.architecture", .string(arch))
        w.set("general.name", .string(name))
        w.set("general.file_type", .uint32(fileType(type)))
        w.set("\(arch).context_length", .uint32(UInt32(c.context)))
        w.set("\(arch).embedding_length", .uint32(UInt32(c.dModel)))
        w.set("\(arch).feed_forward_length", .uint32(UInt32(c.mlpHidden)))
        w.set("\(arch).block_count", .uint32(UInt32(c.layers)))
        w.set("\(arch).attention.head_count", .uint32(UInt32(c.heads)))
        if arch == "llama" {
            w.set("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeads)))
            w.set("llama.rope.freq_base", .float32(c.ropeBase))
            w.set("llama.rope.dimension_count", .uint32(UInt32(c.headDim)))
            w.set("llama.attention.layer_norm_rms_epsilon", .float32(c.normEps))
            w.set("llama.vocab_size", .uint32(UInt32(c.vocabSize)))
        } else {
            w.set("gpt2.attention.layer_norm_epsilon", .float32(c.normEps))
        }
    }

    /// llama.cpp's `general.file_type` for a file mostly of `type`.
    static func fileType(_ type: QuantType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .bf16: return 32
        }
    }

    static func tokenizerMetadata(_ w: inout GGUFWriter, _ t: Tokenizer, arch: String) {
        let (strings, types) = t.ggufTokens
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string(t.pattern == .smollm ? "smollm" : "gpt-2"))
        w.set("tokenizer.ggml.tokens", .array(strings.map { .string($0) }))
        w.set("tokenizer.ggml.token_type", .array(types.map { .int32($0) }))
        w.set("tokenizer.ggml.merges", .array(t.mergeStrings.map { .string($0) }))
        if let eot = t.specialID("<|endoftext|>") {
            w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(eot)))
            w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(eot)))
        }
        w.set("tokenizer.ggml.add_bos_token", .bool(false))
    }

    /// A fused `[(H + 2·KV)·hd, d]` projection as GGUF's separate Q, K, V; Q and K rows permuted to
    /// adjacent-pair order when the model rotates halves.
    static func splitAttention(_ w: inout GGUFWriter, _ t: Tensor, name: String, config c: ModelConfig, type: QuantType) throws {
        guard let block = Int(name.split(separator: ".")[2]) else { throw TLLMError("unexpected parameter name \(name)") }
        let d = c.dModel, hd = c.headDim
        let counts = [c.heads, c.kvHeads, c.kvHeads]
        var row0 = 0
        for (part, heads) in zip(GGUFNames.attentionParts, counts) {
            var rows = [Float](repeating: 0, count: heads * hd * d)
            for h in 0..<heads {
                for r in 0..<hd {
                    // Half-split row r of a head goes to adjacent-pair position: r < hd/2 → 2r, else 2(r − hd/2) + 1.
                    let permuted = part != GGUFNames.attentionParts[2] && c.ropeStyle == .halfSplit
                    let dst = permuted ? (r < hd / 2 ? 2 * r : 2 * (r - hd / 2) + 1) : r
                    let src = t.data + (row0 + h * hd + r) * d
                    for j in 0..<d { rows[(h * hd + dst) * d + j] = src[j] }
                }
            }
            rows.withUnsafeBufferPointer { w.add(GGUFNames.instantiate(part, block), $0.baseAddress!, rows: heads * hd, cols: d, type: type) }
            row0 += heads * hd
        }
    }
}
