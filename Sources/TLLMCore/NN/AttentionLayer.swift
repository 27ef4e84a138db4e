import Foundation
/// Rotary position embedding settings of an attention layer.
public struct RotaryEmbedding: Sendable, Equatable {
    public var base: Float
    public var style: RotaryStyle
    public init(base: Float, style: RotaryStyle = .halfSplit) { self.base = base; self.style = style }
}

/// Multi-head self-attention with an optional grouped-query layout and RoPE:
///
///     x ─ c_attn ─► [q (H heads) | k (KV heads) | v (KV heads)] ─ [rope q, k] ─ softmax(q·kᵀ/√hd + mask)·v ─ c_proj ─►
///
/// `c_attn` is one fused projection `[(H + 2·KV)·hd, d]`; query head `h` reads key/value head
/// `h / (H/KV)`. With `KV == H` this is GPT-2's attention, with `KV < H` Llama's GQA.
public final class Attention: Module {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let rotary: RotaryEmbedding?
    @ModuleInfo(key: "c_attn") public var qkv: Linear     // [(H + 2·KV)·hd, d]
    @ModuleInfo(key: "c_proj") public var proj: Linear    // [d, H·hd]

    /// GPT-2 initialisation: N(0, 0.02) for `c_attn`, `projectionStd` for `c_proj`.
    public init(_ d: Int, heads: Int, kvHeads: Int? = nil, headDim: Int? = nil, bias: Bool, rotary: RotaryEmbedding?,
                projectionStd: Float, rng: inout RandomGenerator) {
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim ?? d / heads
        self.rotary = rotary
        super.init()
        qkv = Linear(d, (heads + 2 * self.kvHeads) * self.headDim, bias: bias, std: 0.02, rng: &rng)
        proj = Linear(heads * self.headDim, d, bias: bias, std: projectionStd, rng: &rng)
    }

    /// `x`: `[B·T, d]` → `[B·T, d]`.
    public func callAsFunction(_ x: Tensor, batch B: Int, length T: Int, mask: AttentionMask) -> Tensor {
        var qkv = self.qkv(x).reshaped([B, T, self.qkv.outFeatures])                       // [B, T, (H+2KV)·hd]
        if let rotary {
            qkv = qkv.rotaryEmbedding(heads: heads, kvHeads: kvHeads, base: rotary.base, style: rotary.style)
        }
        return proj(qkv.attention(heads: heads, kvHeads: kvHeads, mask: mask)               // [B, T, H·hd]
            .reshaped([B * T, heads * headDim]))                                              // [B·T, d]
    }
}

// MARK: - Attention patterns (for analysis)

extension Attention {
    /// The causal attention weights of one sequence: `[H, T, T]` row-major, entry `[h, i, j]` the
    /// weight query position i of head h puts on key position j (0 for j > i). `x` is the
    /// layer's input after its norm, `[T, d]`. No tape.
    public func causalPattern(_ x: Tensor, length T: Int) -> [Float] {
        Autograd.withNoGrad {
            var qkv = self.qkv(x).reshaped([1, T, self.qkv.outFeatures])                        // [1, T, (H+2KV)·hd]
            if let rotary {
                qkv = qkv.rotaryEmbedding(heads: heads, kvHeads: kvHeads, base: rotary.base, style: rotary.style)
            }
            let width = self.qkv.outFeatures, hd = headDim, group = heads / kvHeads
            let scale = 1 / Float(hd).squareRoot()
            var out = [Float](repeating: 0, count: heads * T * T)
            let p = qkv.data
            for h in 0..<heads {
                let kh = h / group
                for i in 0..<T {
                    let q = p + i * width + h * hd
                    var row = [Float](repeating: -.infinity, count: i + 1)
                    for j in 0...i { row[j] = VectorMath.dot(q, p + j * width + (heads + kh) * hd, hd) * scale }
                    let m = row.max()!
                    var s: Float = 0
                    for j in 0...i { row[j] = exp(row[j] - m); s += row[j] }
                    for j in 0...i { out[(h * T + i) * T + j] = row[j] / s }
                }
            }
            return out
        }
    }
}
