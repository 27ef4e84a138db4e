import TLLMCore

/// A GPT-style decoder (GPT-2 by default):
///
///     ids ─ wte ─(+ wpe)─ dropout ─ [block × L] ─ ln_f ─ ·wteᵀ ─► logits
///
/// Parameter names follow nanoGPT / HuggingFace GPT-2 (`transformer.h.0.attn.c_attn.weight`, …),
/// with weights in PyTorch `nn.Linear` layout `[out, in]`; the output layer is the token
/// embedding (tied), stored once.
public final class GPTModel: LanguageModel {
    public let config: ModelConfig
    public let tokenEmbedding: Tensor        // [V, d]  transformer.wte.weight
    public let positionEmbedding: Tensor?    // [T, d]  transformer.wpe.weight
    public let blocks: [TransformerBlock]
    public let finalNormWeight: Tensor       // [d]     transformer.ln_f.weight
    public let finalNormBias: Tensor?        // [d]     transformer.ln_f.bias

    /// A freshly initialised model (GPT-2 initialisation from `seed`).
    public init(config c: ModelConfig, seed: UInt64) throws {
        try c.validate()
        config = c
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("init"))
        tokenEmbedding = Tensor.randn([c.vocabSize, c.dModel], std: 0.02, rng: &rng, requiresGrad: true)
        positionEmbedding = c.positions == .learned
            ? Tensor.randn([c.context, c.dModel], std: 0.02, rng: &rng, requiresGrad: true) : nil
        var bs: [TransformerBlock] = []
        for _ in 0..<c.layers { bs.append(TransformerBlock(config: c, rng: &rng)) }
        blocks = bs
        finalNormWeight = Tensor(shape: [c.dModel], repeating: 1, requiresGrad: true)
        finalNormBias = c.norm == .layernorm && c.bias ? Tensor(shape: [c.dModel], repeating: 0, requiresGrad: true) : nil
        for (name, t) in namedParameters { t.name = name }
    }

    /// A replica over the same weights (shared storage) with its own gradients, for a
    /// data-parallel worker; `requiresGrad` is copied, so frozen stays frozen.
    public init(sharing o: GPTModel) {
        func share(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, storage: t.storage, requiresGrad: t.requiresGrad) }
        config = o.config
        tokenEmbedding = share(o.tokenEmbedding)
        positionEmbedding = o.positionEmbedding.map(share)
        blocks = o.blocks.map { TransformerBlock(sharing: $0) }
        finalNormWeight = share(o.finalNormWeight)
        finalNormBias = o.finalNormBias.map(share)
    }

    /// Every parameter with its checkpoint name, in a fixed order.
    public var namedParameters: [(String, Tensor)] {
        var p: [(String, Tensor)] = [("transformer.wte.weight", tokenEmbedding)]
        if let positionEmbedding { p.append(("transformer.wpe.weight", positionEmbedding)) }
        for (i, b) in blocks.enumerated() { p += b.namedParameters.map { ("transformer.h.\(i).\($0.0)", $0.1) } }
        p.append(("transformer.ln_f.weight", finalNormWeight))
        if let finalNormBias { p.append(("transformer.ln_f.bias", finalNormBias)) }
        return p
    }

    /// Hidden states after the final norm: `[B·T, d]` for `ids` of `B` sequences of `T` tokens.
    /// With `upTo` blocks, stops after that many blocks (features for probes) and skips `ln_f`.
    public func hidden(_ ids: [Int32], batch B: Int, length T: Int, dropout: inout RandomGenerator?,
                       upTo: Int? = nil) -> Tensor {
        check(ids.count == B * T, "GPT: \(ids.count) ids for batch \(B) × length \(T)")
        check(T <= config.context, "GPT: length \(T) exceeds the context \(config.context)")
        var x = tokenEmbedding.gatherRows(ids)                                                   // [B·T, d]
        if let positionEmbedding {
            let pos = positionEmbedding.gatherRows((0..<Int32(T)).map { $0 })                    // [T, d]
            x = (x.reshaped([B, T, config.dModel]) + pos).reshaped([B * T, config.dModel])
        }
        if config.dropout > 0, dropout != nil { x = x.dropout(config.dropout, rng: &dropout!) }
        let n = upTo ?? blocks.count
        for b in blocks.prefix(n) { x = b.forward(x, batch: B, length: T, mask: .causal, dropout: &dropout) }
        if upTo != nil && n < blocks.count { return x }
        return config.norm == .layernorm
            ? x.layerNorm(gamma: finalNormWeight, beta: finalNormBias, eps: config.normEps)
            : x.rmsNorm(gamma: finalNormWeight, eps: config.normEps)
    }

    /// Next-token logits `[B·T, V]`.
    public func logits(_ ids: [Int32], batch B: Int, length T: Int, dropout: inout RandomGenerator?) -> Tensor {
        hidden(ids, batch: B, length: T, dropout: &dropout).linear(tokenEmbedding)
    }

    /// Next-token logits `[positions.count, V]` at flat `positions` of the `B·T` grid only (scoring
    /// needs a handful of positions per sequence; this skips the LM head everywhere else).
    public func logits(_ ids: [Int32], batch B: Int, length T: Int, at positions: [Int32]) -> Tensor {
        var none: RandomGenerator? = nil
        return hidden(ids, batch: B, length: T, dropout: &none).gatherRows(positions).linear(tokenEmbedding)
    }

    /// Mean next-token cross-entropy of `targets` (−100 = ignored) given `ids`.
    public func loss(_ ids: [Int32], targets: [Int32], batch B: Int, length T: Int, dropout: inout RandomGenerator?) -> Tensor {
        logits(ids, batch: B, length: T, dropout: &dropout).crossEntropy(targets: targets)
    }
}

/// What trainers and evaluators need from a causal language model.
public protocol LanguageModel: AnyObject {
    var config: ModelConfig { get }
    var namedParameters: [(String, Tensor)] { get }
    func loss(_ ids: [Int32], targets: [Int32], batch B: Int, length T: Int, dropout: inout RandomGenerator?) -> Tensor
    func logits(_ ids: [Int32], batch B: Int, length T: Int, dropout: inout RandomGenerator?) -> Tensor
}

extension LanguageModel {
    /// The parameters alone.
    public var parameters: [Tensor] { namedParameters.map(\.1) }

    /// AdamW groups: decay on matrices (rank ≥ 2, embeddings included as in nanoGPT), none on
    /// norms and biases.
    public func parameterGroups(weightDecay: Float) -> [ParameterGroup] {
        ParameterGroup.standard(parameters, weightDecay: weightDecay)
    }
}
