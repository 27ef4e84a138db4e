import TLLMCore

/// A BERT-style bidirectional encoder built from the same pre-norm blocks as the GPT, with a
/// padding mask instead of the causal one:
///
///     ids ─ wte ─(+ wpe + segment)─ dropout ─ [block × L, key-padding mask] ─ ln_f ─► hidden
///     hidden[masked] ─ dense ─ gelu ─ norm ─ ·wteᵀ + b ─► MLM logits       (decoder tied to wte)
///     hidden[CLS]    ─ dense ─ tanh ─► pooled ─ linear(2) ─► NSP logits     (pooler + classifier)
///
/// Names: `encoder.wte.weight`, `encoder.wpe.weight`, `encoder.wse.weight` (segments),
/// `encoder.h.{i}.…` (as the GPT's blocks), `encoder.ln_f.*`, `mlm.dense.*`, `mlm.ln.*`, `mlm.bias`,
/// `pooler.dense.*`, `nsp.*`; layouts as PyTorch `nn.Linear` (`[out, in]`).
public final class BERTModel {
    public let config: ModelConfig
    public let tokenEmbedding: Tensor      // [V, d]
    public let positionEmbedding: Tensor   // [T, d]
    public let segmentEmbedding: Tensor    // [S, d]
    public let blocks: [TransformerBlock]
    public let finalNormWeight: Tensor, finalNormBias: Tensor?
    public let mlmDense: Tensor, mlmDenseBias: Tensor       // [d, d], [d]
    public let mlmNormWeight: Tensor, mlmNormBias: Tensor?  // [d]
    public let mlmBias: Tensor                              // [V]
    public let poolerDense: Tensor, poolerBias: Tensor      // [d, d], [d]
    public let nspWeight: Tensor, nspBias: Tensor           // [2, d], [2]

    public init(config c: ModelConfig, seed: UInt64) throws {
        var c = c
        c.architecture = .bert
        if c.segments == 0 { c.segments = 2 }
        try c.validate()
        config = c
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("init"))
        let d = c.dModel
        func mat(_ r: Int, _ k: Int) -> Tensor { Tensor.randn([r, k], std: 0.02, rng: &rng, requiresGrad: true) }
        func vec(_ n: Int, _ v: Float) -> Tensor { Tensor(shape: [n], repeating: v, requiresGrad: true) }
        tokenEmbedding = mat(c.vocabSize, d)
        positionEmbedding = mat(c.context, d)
        segmentEmbedding = mat(c.segments, d)
        blocks = (0..<c.layers).map { _ in TransformerBlock(config: c, rng: &rng) }
        finalNormWeight = vec(d, 1)
        finalNormBias = c.norm == .layernorm && c.bias ? vec(d, 0) : nil
        mlmDense = mat(d, d); mlmDenseBias = vec(d, 0)
        mlmNormWeight = vec(d, 1); mlmNormBias = c.norm == .layernorm && c.bias ? vec(d, 0) : nil
        mlmBias = vec(c.vocabSize, 0)
        poolerDense = mat(d, d); poolerBias = vec(d, 0)
        nspWeight = mat(2, d); nspBias = vec(2, 0)
        for (n, t) in namedParameters { t.name = n }
    }

    public var namedParameters: [(String, Tensor)] {
        var p: [(String, Tensor)] = [("encoder.wte.weight", tokenEmbedding), ("encoder.wpe.weight", positionEmbedding),
                                     ("encoder.wse.weight", segmentEmbedding)]
        for (i, b) in blocks.enumerated() { p += b.namedParameters.map { ("encoder.h.\(i).\($0.0)", $0.1) } }
        p.append(("encoder.ln_f.weight", finalNormWeight))
        if let finalNormBias { p.append(("encoder.ln_f.bias", finalNormBias)) }
        p += [("mlm.dense.weight", mlmDense), ("mlm.dense.bias", mlmDenseBias), ("mlm.ln.weight", mlmNormWeight)]
        if let mlmNormBias { p.append(("mlm.ln.bias", mlmNormBias)) }
        p += [("mlm.bias", mlmBias), ("pooler.dense.weight", poolerDense), ("pooler.dense.bias", poolerBias),
              ("nsp.weight", nspWeight), ("nsp.bias", nspBias)]
        return p
    }

    /// The embedding parameters and the encoder blocks in order (what freeze:K acts on).
    public var embeddingParameters: [Tensor] { [tokenEmbedding, positionEmbedding, segmentEmbedding] }

    @inline(__always)
    func norm(_ x: Tensor, _ g: Tensor, _ b: Tensor?) -> Tensor {
        config.norm == .layernorm ? x.layerNorm(gamma: g, beta: b, eps: config.normEps) : x.rmsNorm(gamma: g, eps: config.normEps)
    }

    /// Hidden states `[B·T, d]`. `lengths[b]` real tokens per sequence (the rest is padding).
    /// With `upTo`, stops after that many blocks (probe features) and skips `ln_f`.
    public func encode(_ ids: [Int32], segments: [Int32], lengths: [Int], batch B: Int, length T: Int,
                       dropout: inout RandomGenerator?, upTo: Int? = nil) -> Tensor {
        check(ids.count == B * T && segments.count == B * T, "BERT: inputs do not match batch \(B) × \(T)")
        check(T <= config.context, "BERT: length \(T) exceeds the context \(config.context)")
        let d = config.dModel
        var x = tokenEmbedding.gatherRows(ids) + segmentEmbedding.gatherRows(segments)                    // [B·T, d]
        let pos = positionEmbedding.gatherRows((0..<Int32(T)).map { $0 })                                // [T, d]
        x = (x.reshaped([B, T, d]) + pos).reshaped([B * T, d])
        if config.dropout > 0, dropout != nil { x = x.dropout(config.dropout, rng: &dropout!) }
        let mask = AttentionMask.keyPadding(lengths: lengths)
        let n = upTo ?? blocks.count
        for b in blocks.prefix(n) { x = b.forward(x, batch: B, length: T, mask: mask, dropout: &dropout) }
        if upTo != nil && n < blocks.count { return x }
        return norm(x, finalNormWeight, finalNormBias)
    }

    /// MLM logits `[M, V]` for the hidden rows at `positions` (flat indices into `B·T`).
    public func mlmLogits(_ hidden: Tensor, positions: [Int32]) -> Tensor {
        let h = hidden.gatherRows(positions).linear(mlmDense, mlmDenseBias).gelu()
        return norm(h, mlmNormWeight, mlmNormBias).linear(tokenEmbedding, mlmBias)
    }

    /// Pooled `[CLS]` representations `[B, d]` (dense + tanh on each sequence's first position).
    public func pooled(_ hidden: Tensor, batch B: Int, length T: Int) -> Tensor {
        hidden.gatherRows((0..<B).map { Int32($0 * T) }).linear(poolerDense, poolerBias).tanh()
    }

    /// NSP logits `[B, 2]` (index 1 = B follows A).
    public func nspLogits(_ pooled: Tensor) -> Tensor { pooled.linear(nspWeight, nspBias) }
}
