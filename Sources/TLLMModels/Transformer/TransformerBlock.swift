import TLLMCore

/// One pre-norm transformer block, shared by the GPT decoder and the BERT encoder:
///
///     x ─┬─ norm ─ linear(3d) ─ [rope] ─ attention(mask) ─ linear(d) ─ dropout ─(+)─┬─ norm ─ MLP ─ dropout ─(+)─►
///        └─────────────────────────────────────────────────────────────────────┘   └────────────────────┘
///
/// MLP: `linear(h) ─ gelu ─ linear(d)`, or SwiGLU `(silu(x·W_gate) ⊙ x·W_up)·W_down`.
public final class TransformerBlock {
    public let config: ModelConfig
    // MARK: Parameters (PyTorch nn.Linear layout: weight [out, in])
    public let ln1Weight: Tensor            // [d]
    public let ln1Bias: Tensor?             // [d]
    public let attnWeight: Tensor           // [3d, d]   c_attn
    public let attnBias: Tensor?            // [3d]
    public let attnProjWeight: Tensor       // [d, d]    c_proj
    public let attnProjBias: Tensor?        // [d]
    public let ln2Weight: Tensor            // [d]
    public let ln2Bias: Tensor?             // [d]
    public let fcWeight: Tensor             // [h, d]    c_fc (GELU) / w_gate (SwiGLU)
    public let fcBias: Tensor?              // [h]
    public let upWeight: Tensor?            // [h, d]    w_up (SwiGLU only)
    public let projWeight: Tensor           // [d, h]    c_proj
    public let projBias: Tensor?            // [d]

    /// Initializes as GPT-2: N(0, 0.02) for matrices, the two residual projections scaled by
    /// 1/√(2·layers), biases 0, norm gains 1.
    public init(config c: ModelConfig, rng: inout RandomGenerator) {
        config = c
        let d = c.dModel, h = c.mlpHidden
        let std: Float = 0.02, residualStd = 0.02 / Float(2 * max(1, c.layers)).squareRoot()
        func vec(_ n: Int, _ v: Float) -> Tensor { Tensor(shape: [n], repeating: v, requiresGrad: true) }
        ln1Weight = vec(d, 1)
        ln1Bias = c.norm == .layernorm && c.bias ? vec(d, 0) : nil
        attnWeight = Tensor.randn([3 * d, d], std: std, rng: &rng, requiresGrad: true)
        attnBias = c.bias ? vec(3 * d, 0) : nil
        attnProjWeight = Tensor.randn([d, d], std: residualStd, rng: &rng, requiresGrad: true)
        attnProjBias = c.bias ? vec(d, 0) : nil
        ln2Weight = vec(d, 1)
        ln2Bias = c.norm == .layernorm && c.bias ? vec(d, 0) : nil
        fcWeight = Tensor.randn([h, d], std: std, rng: &rng, requiresGrad: true)
        fcBias = c.bias && c.activation == .gelu ? vec(h, 0) : (c.bias ? vec(h, 0) : nil)
        upWeight = c.activation == .swiglu ? Tensor.randn([h, d], std: std, rng: &rng, requiresGrad: true) : nil
        projWeight = Tensor.randn([d, h], std: residualStd, rng: &rng, requiresGrad: true)
        projBias = c.bias ? vec(d, 0) : nil
    }

    /// A block over the same weights with its own gradients (a data-parallel worker's replica).
    public init(sharing o: TransformerBlock) {
        func share(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, storage: t.storage, requiresGrad: t.requiresGrad) }
        config = o.config
        ln1Weight = share(o.ln1Weight); ln1Bias = o.ln1Bias.map(share)
        attnWeight = share(o.attnWeight); attnBias = o.attnBias.map(share)
        attnProjWeight = share(o.attnProjWeight); attnProjBias = o.attnProjBias.map(share)
        ln2Weight = share(o.ln2Weight); ln2Bias = o.ln2Bias.map(share)
        fcWeight = share(o.fcWeight); fcBias = o.fcBias.map(share)
        upWeight = o.upWeight.map(share)
        projWeight = share(o.projWeight); projBias = o.projBias.map(share)
    }

    /// Parameters with their names relative to the block (`ln_1.weight`, `attn.c_attn.weight`, …).
    public var namedParameters: [(String, Tensor)] {
        var p: [(String, Tensor)] = [("ln_1.weight", ln1Weight)]
        if let ln1Bias { p.append(("ln_1.bias", ln1Bias)) }
        p.append(("attn.c_attn.weight", attnWeight))
        if let attnBias { p.append(("attn.c_attn.bias", attnBias)) }
        p.append(("attn.c_proj.weight", attnProjWeight))
        if let attnProjBias { p.append(("attn.c_proj.bias", attnProjBias)) }
        p.append(("ln_2.weight", ln2Weight))
        if let ln2Bias { p.append(("ln_2.bias", ln2Bias)) }
        if config.activation == .gelu {
            p.append(("mlp.c_fc.weight", fcWeight))
            if let fcBias { p.append(("mlp.c_fc.bias", fcBias)) }
        } else {
            p.append(("mlp.w_gate.weight", fcWeight))
            if let fcBias { p.append(("mlp.w_gate.bias", fcBias)) }
            p.append(("mlp.w_up.weight", upWeight!))
        }
        p.append(("mlp.c_proj.weight", projWeight))
        if let projBias { p.append(("mlp.c_proj.bias", projBias)) }
        return p
    }

    /// The normalization of this block's config.
    @inline(__always)
    func norm(_ x: Tensor, _ g: Tensor, _ b: Tensor?) -> Tensor {
        config.norm == .layernorm ? x.layerNorm(gamma: g, beta: b, eps: config.normEps) : x.rmsNorm(gamma: g, eps: config.normEps)
    }

    /// `x`: `[B·T, d]` → `[B·T, d]`.
    public func forward(_ x: Tensor, batch B: Int, length T: Int, mask: AttentionMask,
                        dropout: inout RandomGenerator?) -> Tensor {
        let d = config.dModel
        // Attention sub-layer.
        var qkv = norm(x, ln1Weight, ln1Bias).linear(attnWeight, attnBias).reshaped([B, T, 3 * d])   // [B, T, 3d]
        if config.positions == .rope { qkv = qkv.rotaryEmbedding(heads: config.heads, base: config.ropeBase) }
        var a = qkv.attention(heads: config.heads, mask: mask)                                         // [B, T, d]
            .reshaped([B * T, d]).linear(attnProjWeight, attnProjBias)                                 // [B·T, d]
        if config.dropout > 0, dropout != nil { a = a.dropout(config.dropout, rng: &dropout!) }
        let x1 = x + a
        // MLP sub-layer.
        let h = norm(x1, ln2Weight, ln2Bias)                                                           // [B·T, d]
        let inner: Tensor
        if config.activation == .gelu {
            inner = h.linear(fcWeight, fcBias).gelu()                                                  // [B·T, 4d]
        } else {
            inner = h.linear(fcWeight, fcBias).silu() * h.linear(upWeight!)                            // [B·T, h]
        }
        var m = inner.linear(projWeight, projBias)                                                     // [B·T, d]
        if config.dropout > 0, dropout != nil { m = m.dropout(config.dropout, rng: &dropout!) }
        return x1 + m
    }
}
