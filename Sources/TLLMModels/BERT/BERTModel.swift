import TLLMCore

/// A BERT-style bidirectional encoder built from the same pre-norm blocks as the GPT, with a
/// padding mask instead of the causal one:
///
///     ids ─ wte ─(+ wpe + wse)─ dropout ─ [block × L, key-padding mask] ─ ln_f ─► hidden
///     hidden[masked] ─ mlm.dense ─ gelu ─ mlm.ln ─ ·wteᵀ + mlm.bias ─► MLM logits   (decoder tied to wte)
///     hidden[CLS]    ─ pooler.dense ─ tanh ─► pooled ─ nsp ─► NSP logits
///
/// Names: `encoder.wte.weight`, `encoder.wpe.weight`, `encoder.wse.weight` (segments),
/// `encoder.h.{i}.…` (as the GPT's blocks), `encoder.ln_f.*`, `mlm.dense.*`, `mlm.ln.*`, `mlm.bias`,
/// `pooler.dense.*`, `nsp.*`; layouts as PyTorch `nn.Linear` (`[out, in]`).
public final class BERTModel: Module, ConfigurableModule {
    public let config: ModelConfig
    @ModuleInfo(key: "encoder.wte") public var tokenEmbedding: Embedding      // [V, d]
    @ModuleInfo(key: "encoder.wpe") public var positionEmbedding: Embedding   // [T, d]
    @ModuleInfo(key: "encoder.wse") public var segmentEmbedding: Embedding    // [S, d]
    @ModuleInfo(key: "encoder.h") public var blocks: [TransformerBlock]
    @ModuleInfo(key: "encoder.ln_f") public var finalNorm: any NormLayer      // [d]
    @ModuleInfo public var mlm: MaskedLMHead
    @ModuleInfo public var pooler: Pooler
    @ModuleInfo public var nsp: Linear                                        // [2, d]

    public var configuration: ModelConfig { config }

    public init(configuration c: ModelConfig, seed: UInt64) throws {
        var c = c
        c.architecture = .bert
        if c.segments == 0 { c.segments = 2 }
        try c.validate()
        config = c
        super.init()
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("init"))
        let d = c.dModel
        tokenEmbedding = Embedding(c.vocabSize, d, rng: &rng)
        positionEmbedding = Embedding(c.context, d, rng: &rng)
        segmentEmbedding = Embedding(c.segments, d, rng: &rng)
        blocks = (0..<c.layers).map { _ in TransformerBlock(config: c, rng: &rng) }
        finalNorm = c.makeNorm()
        mlm = MaskedLMHead(config: c, rng: &rng)
        pooler = Pooler(d, rng: &rng)
        nsp = Linear(d, 2, rng: &rng)
        nameParameters()
    }

    public convenience init(config: ModelConfig, seed: UInt64) throws {
        try self.init(configuration: config, seed: seed)
    }

    /// The embedding tables (what freeze:K freezes below the blocks).
    public var embeddingParameters: [Tensor] { [tokenEmbedding.weight, positionEmbedding.weight, segmentEmbedding.weight] }

    /// Hidden states `[B·T, d]`. `lengths[b]` real tokens per sequence (the rest is padding).
    /// With `upTo`, stops after that many blocks (probe features) and skips `ln_f`.
    public func encode(_ ids: [Int32], segments: [Int32], lengths: [Int], batch B: Int, length T: Int,
                       context: ForwardContext = .inference, upTo: Int? = nil) -> Tensor {
        check(ids.count == B * T && segments.count == B * T, "BERT: inputs do not match batch \(B) × \(T)")
        check(T <= config.context, "BERT: length \(T) exceeds the context \(config.context)")
        let d = config.dModel
        var x = tokenEmbedding(ids) + segmentEmbedding(segments)                              // [B·T, d]
        x = (x.reshaped([B, T, d]) + positionEmbedding.positions(T)).reshaped([B * T, d])     // + [T, d]
        x = context.dropout(x, config.dropout)
        let mask = AttentionMask.keyPadding(lengths: lengths)
        let n = upTo ?? blocks.count
        for b in blocks.prefix(n) { x = b(x, batch: B, length: T, mask: mask, context: context) }
        if upTo != nil && n < blocks.count { return x }
        return finalNorm(x)
    }

    /// MLM logits `[M, V]` for the hidden rows at `positions` (flat indices into `B·T`).
    public func mlmLogits(_ hidden: Tensor, positions: [Int32]) -> Tensor {
        mlm(hidden.gatherRows(positions), decoder: tokenEmbedding.weight)
    }

    /// Pooled `[CLS]` representations `[B, d]` (dense + tanh on each sequence's first position).
    public func pooled(_ hidden: Tensor, batch B: Int, length T: Int) -> Tensor {
        pooler(hidden.gatherRows((0..<B).map { Int32($0 * T) }))
    }

    /// NSP logits `[B, 2]` (index 1 = B follows A).
    public func nspLogits(_ pooled: Tensor) -> Tensor { nsp(pooled) }
}

/// BERT's masked-LM head: `dense ─ gelu ─ ln ─ ·Eᵀ + bias` with the decoder `E` tied to the
/// token embedding.
public final class MaskedLMHead: Module {
    @ModuleInfo public var dense: Linear          // [d, d]
    @ModuleInfo(key: "ln") public var norm: any NormLayer
    @ParameterInfo public var bias: Tensor        // [V]

    init(config c: ModelConfig, rng: inout RandomGenerator) {
        super.init()
        dense = Linear(c.dModel, c.dModel, rng: &rng)
        norm = c.makeNorm()
        bias = Tensor(zeros: [c.vocabSize], requiresGrad: true)
    }

    /// `[M, d] → [M, V]`.
    public func callAsFunction(_ h: Tensor, decoder: Tensor) -> Tensor {
        norm(dense(h).gelu()).linear(decoder, bias)
    }
}

/// BERT's pooler: `dense ─ tanh` on the `[CLS]` rows.
public final class Pooler: Module, UnaryLayer {
    @ModuleInfo public var dense: Linear          // [d, d]

    init(_ d: Int, rng: inout RandomGenerator) {
        super.init()
        dense = Linear(d, d, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { dense(x).tanh() }
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { self(x) }
}
