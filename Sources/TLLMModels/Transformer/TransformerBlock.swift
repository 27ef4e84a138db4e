import TLLMCore

/// One pre-norm transformer block, shared by the GPT decoder and the BERT encoder:
///
///     x ─┬─ ln_1 ─ attn(mask) ─ dropout ─(+)─┬─ ln_2 ─ mlp ─ dropout ─(+)─►
///        └───────────────────────────────┘   └──────────────────────┘
///
/// `attn`: fused QKV projection, [RoPE], attention, output projection (``Attention``); `mlp`:
/// GELU or SwiGLU (``MLP``). Attention-only blocks have no `ln_2` and no `mlp`.
/// Checkpoint names (nanoGPT / HF GPT-2): `ln_1.*`, `attn.c_attn.*`, `attn.c_proj.*`, `ln_2.*`,
/// `mlp.c_fc.*` (or `mlp.w_gate.*`, `mlp.w_up.weight`), `mlp.c_proj.*`.
public final class TransformerBlock: Module {
    public let config: ModelConfig
    @ModuleInfo(key: "ln_1") public var norm1: any NormLayer
    @ModuleInfo public var attn: Attention
    @ModuleInfo(key: "ln_2") public var norm2: (any NormLayer)?
    @ModuleInfo public var mlp: MLP?

    /// Initializes as GPT-2: N(0, 0.02) for matrices, the two residual projections scaled by
    /// 1/√(2·layers), biases 0, norm gains 1.
    public init(config c: ModelConfig, rng: inout RandomGenerator) {
        config = c
        super.init()
        let residualStd = 0.02 / Float(2 * max(1, c.layers)).squareRoot()
        norm1 = c.makeNorm()
        attn = Attention(c.dModel, heads: c.heads, kvHeads: c.kvHeads, bias: c.bias, rotary: c.rotary,
                         projectionStd: residualStd, rng: &rng)
        if !c.attentionOnly {
            norm2 = c.makeNorm()
            mlp = MLP(c.dModel, hidden: c.mlpHidden, activation: c.activation, bias: c.bias, projectionStd: residualStd, rng: &rng)
        }
    }

    /// `x`: `[B·T, d]` → `[B·T, d]`.
    public func callAsFunction(_ x: Tensor, batch B: Int, length T: Int, mask: AttentionMask, context: ForwardContext) -> Tensor {
        let a = context.dropout(attn(norm1(x), batch: B, length: T, mask: mask), config.dropout)   // [B·T, d]
        let x1 = x + a
        guard let mlp, let norm2 else { return x1 }
        let m = context.dropout(mlp(norm2(x1)), config.dropout)                                     // [B·T, d]
        return x1 + m
    }
}

extension ModelConfig {
    /// The block's normalization: LayerNorm (with β when the model has biases) or RMSNorm.
    public func makeNorm() -> any NormLayer {
        norm == .layernorm ? LayerNorm(dModel, bias: bias, eps: normEps) : RMSNorm(dModel, eps: normEps)
    }

    /// RoPE settings, or nil with learned positions.
    public var rotary: RotaryEmbedding? {
        positions == .rope ? RotaryEmbedding(base: ropeBase, style: ropeStyle) : nil
    }
}
