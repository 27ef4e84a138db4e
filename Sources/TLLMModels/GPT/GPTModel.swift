import TLLMCore

/// A GPT-style decoder (GPT-2 by default; Llama-style with RMSNorm, SwiGLU, RoPE, GQA):
///
///     ids ─ wte ─(+ wpe)─ dropout ─ [block × L] ─ ln_f ─ ·wteᵀ (or lm_head) ─► logits
///
/// Parameter names follow nanoGPT / HuggingFace GPT-2 (`transformer.h.0.attn.c_attn.weight`, …),
/// with weights in PyTorch `nn.Linear` layout `[out, in]`; with tied embeddings (the default) the
/// output layer is the token embedding, stored once.
public final class GPTModel: Module, ConfigurableModule {
    public let config: ModelConfig
    @ModuleInfo(key: "transformer.wte") public var tokenEmbedding: Embedding         // [V, d]
    @ModuleInfo(key: "transformer.wpe") public var positionEmbedding: Embedding?     // [T, d]
    @ModuleInfo(key: "transformer.h") public var blocks: [TransformerBlock]
    @ModuleInfo(key: "transformer.ln_f") public var finalNorm: any NormLayer         // [d]
    @ModuleInfo(key: "lm_head") public var outputHead: Linear?                       // [V, d], untied only

    public var configuration: ModelConfig { config }

    /// A freshly initialised model (GPT-2 initialisation from `seed`).
    public init(configuration c: ModelConfig, seed: UInt64) throws {
        try c.validate()
        config = c
        super.init()
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("init"))
        tokenEmbedding = Embedding(c.vocabSize, c.dModel, rng: &rng)
        positionEmbedding = c.positions == .learned ? Embedding(c.context, c.dModel, rng: &rng) : nil
        blocks = (0..<c.layers).map { _ in TransformerBlock(config: c, rng: &rng) }
        finalNorm = c.makeNorm()
        outputHead = c.tiedEmbeddings ? nil : Linear(c.dModel, c.vocabSize, bias: false, rng: &rng)
        nameParameters()
    }

    public convenience init(config: ModelConfig, seed: UInt64) throws {
        try self.init(configuration: config, seed: seed)
    }

    /// The output projection `[V, d]`: the token embedding when tied.
    public var outputWeight: Tensor { outputHead?.weight ?? tokenEmbedding.weight }

    /// Hidden states after the final norm: `[B·T, d]` for `ids` of `B` sequences of `T` tokens.
    /// With `upTo` blocks, stops after that many blocks (features for probes) and skips `ln_f`.
    public func hidden(_ ids: [Int32], batch B: Int, length T: Int, context: ForwardContext = .inference,
                       upTo: Int? = nil) -> Tensor {
        check(ids.count == B * T, "GPT: \(ids.count) ids for batch \(B) × length \(T)")
        check(T <= config.context, "GPT: length \(T) exceeds the context \(config.context)")
        let d = config.dModel
        var x = tokenEmbedding(ids)                                                           // [B·T, d]
        if let positionEmbedding {
            x = (x.reshaped([B, T, d]) + positionEmbedding.positions(T)).reshaped([B * T, d])  // + [T, d]
        }
        x = context.dropout(x, config.dropout)
        let n = upTo ?? blocks.count
        for b in blocks.prefix(n) { x = b(x, batch: B, length: T, mask: .causal, context: context) }
        if upTo != nil && n < blocks.count { return x }
        return finalNorm(x)                                                                   // [B·T, d]
    }

    /// Next-token logits `[B·T, V]`.
    public func logits(_ ids: [Int32], batch B: Int, length T: Int, context: ForwardContext = .inference) -> Tensor {
        hidden(ids, batch: B, length: T, context: context).linear(outputWeight)
    }

    /// Mean next-token cross-entropy of `targets` (−100 = ignored) given `ids`.
    public func loss(_ ids: [Int32], targets: [Int32], batch B: Int, length T: Int, context: ForwardContext) -> Tensor {
        logits(ids, batch: B, length: T, context: context).crossEntropy(targets: targets)
    }
}

// MARK: - LanguageModel

extension GPTModel: LanguageModel {
    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.context }

    /// Next-token logits `[positions.count, V]` at flat `positions` of the `B·T` grid only (scoring
    /// needs a handful of positions per sequence; this skips the LM head everywhere else).
    public func logits(_ ids: [Int32], batch B: Int, length T: Int, at positions: [Int32]) -> Tensor {
        hidden(ids, batch: B, length: T).gatherRows(positions).linear(outputWeight)
    }

    public func loss(_ ids: [Int32], targets: [Int32], batch B: Int, length T: Int) -> Tensor {
        loss(ids, targets: targets, batch: B, length: T, context: .inference)
    }
}
