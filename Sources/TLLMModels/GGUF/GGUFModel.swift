import Foundation
import TLLMCore
import TLLMTokenizer

/// A causal language model read from a GGUF file (llama.cpp's format): `llama` (Llama, SmolLM2,
/// … — RMSNorm, SwiGLU, RoPE on adjacent pairs, grouped-query attention) or `gpt2` (what
/// `tllm quantize` writes for GPT-2-style models). Weights stay in the mapped file in their own
/// types (Q4_1, Q8_0, …); products run on the quantized kernels. Inference only.
public final class GGUFLanguageModel: LanguageModel {
    public let file: GGUFFile
    /// `general.architecture`.
    public let architecture: String
    /// The architecture in tllm's terms.
    public let config: ModelConfig
    public let tokenizer: Tokenizer
    public let stack: DecoderStack
    /// The chat template, when the file has one tllm understands.
    public let chat: ChatTemplate?

    public init(path: String) throws {
        let f = try GGUFFile(path: path)
        file = f
        architecture = try f.string("general.architecture")
        guard architecture == "llama" || architecture == "gpt2" else {
            throw TLLMError("architecture '\(architecture)' is not supported (llama, gpt2)", file: path)
        }
        config = try Self.config(f, architecture: architecture)
        tokenizer = try Self.tokenizer(f)
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw TLLMError("the tokenizer has \(tokenizer.vocabularySize) tokens but token_embd.weight has \(config.vocabSize) rows", file: path)
        }
        stack = try Self.stack(f, config: config)
        chat = f.metadata["tokenizer.chat_template"]?.string.flatMap(ChatTemplate.init(template:))
        try checkFinite()
    }

    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.context }
    public func makeDecoder() -> any IncrementalDecoder { TransformerDecoder(stack: stack) }
    public var reusesSharedPrefixes: Bool { true }

    /// The decoder scoring runs on, and the tokens it holds (kept between calls, so that a
    /// sequence sharing a prefix with the previous one feeds only the rest).
    lazy var scoring = TransformerDecoder(stack: stack)
    var scored: [Int32] = []

    /// Logits at flat positions of `B` sequences: each sequence runs through the scoring decoder
    /// (prefill, after the prefix it shares with the sequence before), and only the requested rows
    /// reach the output projection.
    public func logits(_ ids: [Int32], batch B: Int, length T: Int, at positions: [Int32]) -> Tensor {
        let out = Tensor(uninitialized: [positions.count, vocabularySize])
        var k = 0
        for b in 0..<B {
            var rows: [Int] = []
            while k + rows.count < positions.count, Int(positions[k + rows.count]) / T == b { rows.append(Int(positions[k + rows.count]) % T) }
            guard !rows.isEmpty else { continue }
            let seq = Array(ids[(b * T)...(b * T + rows.max()!)])
            // Keep the shared prefix, but recompute from the first row whose logits are needed.
            var keep = zip(seq, scored).prefix { $0 == $1 }.count
            keep = min(keep, rows.min()!, scoring.length)
            scoring.rewind(to: keep)
            scoring.feed(Array(seq[keep...]), logitsAt: rows.map { $0 - keep }, into: out.data + k * vocabularySize)
            scored = seq
            k += rows.count
        }
        check(k == positions.count, "GGUFLanguageModel.logits: positions must be sorted by sequence")
        return out
    }

    // MARK: - Reading

    static func config(_ f: GGUFFile, architecture a: String) throws -> ModelConfig {
        guard let embd = f.tensor("token_embd.weight"), embd.dims.count == 2 else {
            throw TLLMError("tensor token_embd.weight is missing or not a matrix", file: f.path)
        }
        let d = try f.int("\(a).embedding_length"), heads = try f.int("\(a).attention.head_count")
        guard d == embd.dims[0], heads > 0, d % heads == 0 else {
            throw TLLMError("\(a).embedding_length \(d) does not match token_embd.weight \(embd.dims) or the \(heads) heads", file: f.path)
        }
        var c = ModelConfig(vocabSize: embd.dims[1], context: try f.int("\(a).context_length"), layers: try f.int("\(a).block_count"),
                            dModel: d, heads: heads, mlpHidden: try f.int("\(a).feed_forward_length"))
        c.tiedEmbeddings = f.tensor("output.weight") == nil
        if a == "llama" {
            c.kvHeads = try f.int("llama.attention.head_count_kv", default: heads)
            c.norm = .rmsnorm; c.activation = .swiglu; c.positions = .rope; c.ropeStyle = .interleaved; c.bias = false
            c.normEps = Float(try f.double("llama.attention.layer_norm_rms_epsilon", default: 1e-5))
            c.ropeBase = Float(try f.double("llama.rope.freq_base", default: 10_000))
        } else {
            c.normEps = Float(try f.double("gpt2.attention.layer_norm_epsilon", default: 1e-5))
        }
        do { try c.validate() } catch let e as TLLMError { throw TLLMError(e.message, file: f.path) }
        guard c.context > 0, c.context <= 1 << 20, c.layers <= 4096 else {
            throw TLLMError("context \(c.context) or block count \(c.layers) is out of range", file: f.path)
        }
        return c
    }

    public static func tokenizer(_ f: GGUFFile) throws -> Tokenizer {
        let model = try f.string("tokenizer.ggml.model")
        guard model == "gpt2" else { throw TLLMError("tokenizer.ggml.model '\(model)' is not supported (gpt2: byte-level BPE)", file: f.path) }
        let types = try (f.metadata["tokenizer.ggml.token_type"]?.array ?? []).map { v -> Int in
            guard let t = v.int else { throw TLLMError("tokenizer.ggml.token_type has a non-integer entry", file: f.path) }
            return t
        }
        let unknown = f.metadata["tokenizer.ggml.unknown_token_id"]?.int.map { Int32($0) }
        let name = URL(fileURLWithPath: f.path).deletingPathExtension().lastPathComponent
        return try VocabularyFiles.fromGGUF(tokens: try f.strings("tokenizer.ggml.tokens"), types: types, merges: try f.strings("tokenizer.ggml.merges"),
                                            pre: (try? f.string("tokenizer.ggml.pre")) ?? "gpt2", unknown: unknown, name: name, file: f.path)
    }

    static func stack(_ f: GGUFFile, config c: ModelConfig) throws -> DecoderStack {
        func linear(_ name: String, rows: Int, cols: Int, bias: String? = nil) throws -> QuantizedLinear {
            let m = try f.matrix(name)
            guard m.rows == rows, m.cols == cols else { throw TLLMError("tensor \(name) is [\(m.cols), \(m.rows)], expected [\(cols), \(rows)]", file: f.path) }
            return QuantizedLinear(m, bias: try bias.flatMap { f.tensor($0) != nil ? try vector($0, rows) : nil })
        }
        func vector(_ name: String, _ n: Int) throws -> Tensor {
            let t = try f.floats(name)
            guard t.count == n else { throw TLLMError("tensor \(name) has \(t.count) values, expected \(n)", file: f.path) }
            return t
        }
        func norm(_ prefix: String) throws -> any NormLayer {
            if c.norm == .rmsnorm {
                let n = RMSNorm(c.dModel, eps: c.normEps)
                n.weight = try vector(prefix + ".weight", c.dModel)
                return n
            }
            let n = LayerNorm(c.dModel, bias: f.tensor(prefix + ".bias") != nil, eps: c.normEps)
            n.weight = try vector(prefix + ".weight", c.dModel)
            if f.tensor(prefix + ".bias") != nil { n.bias = try vector(prefix + ".bias", c.dModel) }
            return n
        }
        let d = c.dModel, hd = c.headDim, h = c.mlpHidden
        var blocks: [DecoderStack.Block] = []
        for i in 0..<c.layers {
            let name = { (p: String) in GGUFNames.gguf(p, block: i) }
            let qkv: any RowLinear
            if f.tensor(name("transformer.h.{i}.attn.c_attn.weight")) != nil {
                qkv = try linear(name("transformer.h.{i}.attn.c_attn.weight"), rows: (c.heads + 2 * c.kvHeads) * hd, cols: d,
                                 bias: name("transformer.h.{i}.attn.c_attn.bias"))
            } else {
                let widths = [c.heads * hd, c.kvHeads * hd, c.kvHeads * hd]
                qkv = StackedLinear(try zip(GGUFNames.attentionParts, widths).map { p, w in
                    try linear(GGUFNames.instantiate(p, i), rows: w, cols: d)
                })
            }
            let swiglu = c.activation == .swiglu
            blocks.append(DecoderStack.Block(
                norm1: try norm("blk.\(i).attn_norm"), qkv: qkv,
                proj: try linear(name("transformer.h.{i}.attn.c_proj.weight"), rows: d, cols: c.heads * hd, bias: name("transformer.h.{i}.attn.c_proj.bias")),
                heads: c.heads, kvHeads: c.kvHeads, headDim: hd, rotary: c.rotary,
                norm2: try norm("blk.\(i).ffn_norm"),
                gate: try linear(swiglu ? "blk.\(i).ffn_gate.weight" : "blk.\(i).ffn_up.weight", rows: h, cols: d, bias: swiglu ? nil : "blk.\(i).ffn_up.bias"),
                up: swiglu ? try linear("blk.\(i).ffn_up.weight", rows: h, cols: d) : nil,
                down: try linear("blk.\(i).ffn_down.weight", rows: d, cols: h, bias: "blk.\(i).ffn_down.bias"),
                activation: c.activation))
        }
        let embedding = try f.matrix("token_embd.weight")
        let positions = c.positions == .learned ? try f.floats("position_embd.weight") : nil
        if let positions, positions.shape != [c.context, d] { throw TLLMError("position_embd.weight is \(positions.shape), expected [\(c.context), \(d)]", file: f.path) }
        let output: any RowLinear = c.tiedEmbeddings ? QuantizedLinear(embedding) : try linear("output.weight", rows: c.vocabSize, cols: d)
        return DecoderStack(vocabularySize: c.vocabSize, dModel: d, context: c.context,
                            embed: { id, out in embedding.decodeRow(Int(id), into: out) }, positions: positions,
                            blocks: blocks, finalNorm: try norm("output_norm"), output: output)
    }

    /// Refuses weights with NaN or ±∞ (they would silently generate garbage).
    func checkFinite() throws {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: file.tensors.map { $0.dims[0] }.max() ?? 1)
        defer { row.deallocate() }
        for t in file.tensors {
            let m = try file.matrix(t.name)
            for r in 0..<m.rows {
                m.decodeRow(r, into: row)
                for j in 0..<m.cols where !row[j].isFinite {
                    throw TLLMError("tensor \(t.name) has a non-finite value (row \(r), column \(j)); refusing to run it", file: file.path)
                }
            }
        }
    }
}
