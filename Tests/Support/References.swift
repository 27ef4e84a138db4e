import Foundation
import TLLMCore

/// Naive, obviously-correct versions of tllm's kernels, in double precision, for tests of any
/// target to compare against.
public enum Reference {
    /// A tensor's values in double.
    public static func values(_ t: Tensor) -> [Double] { t.values.map(Double.init) }

    /// `A[M, K] · B[K, N]` (row-major).
    public static func matmul(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s = 0.0; for l in 0..<k { s += a[i * k + l] * b[l * n + j] }; c[i * n + j] = s } }
        return c
    }

    /// Multi-head (grouped-query when `kvHeads` < `heads`) attention over a packed
    /// `[B, T, (H + 2·KV)·hd]` projection: per batch and query head, scores against key/value
    /// head `h / (H/KV)`, mask, softmax, weighted sum.
    public static func attention(_ qkv: Tensor, heads H: Int, kvHeads: Int? = nil, mask: AttentionMask) -> [Double] {
        let KV = kvHeads ?? H
        let B = qkv.shape[0], T = qkv.shape[1], W = qkv.shape[2], hd = W / (H + 2 * KV), D = H * hd
        let x = values(qkv)
        var out = [Double](repeating: 0, count: B * T * D)
        for b in 0..<B {
            for h in 0..<H {
                let kv = h / (H / KV)
                let q0 = h * hd, k0 = D + kv * hd, v0 = D + KV * hd + kv * hd
                for i in 0..<T {
                    var scores = [Double](repeating: -.infinity, count: T)
                    for j in 0..<T where allowed(mask, b: b, i: i, j: j) {
                        var s = 0.0
                        for c in 0..<hd { s += x[(b * T + i) * W + q0 + c] * x[(b * T + j) * W + k0 + c] }
                        scores[j] = s / Double(hd).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { $0 == -.infinity ? 0 : Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for c in 0..<hd {
                        var acc = 0.0
                        for j in 0..<T { acc += e[j] / z * x[(b * T + j) * W + v0 + c] }
                        out[(b * T + i) * D + h * hd + c] = acc
                    }
                }
            }
        }
        return out
    }

    static func allowed(_ mask: AttentionMask, b: Int, i: Int, j: Int) -> Bool {
        switch mask {
        case .none: return true
        case .causal: return j <= i
        case .keyPadding(let lengths): return j < lengths[b]
        }
    }

    /// RoPE on the query and key heads of a packed projection: pair `i` of a head turns by
    /// `(offset + t)·base^(−2i/hd)`; the pair is `(i, i + hd/2)` or `(2i, 2i + 1)`.
    public static func rotary(_ qkv: Tensor, heads H: Int, kvHeads: Int? = nil, base: Double = 10_000, offset: Int = 0,
                              style: RotaryStyle = .halfSplit) -> [Double] {
        let KV = kvHeads ?? H
        let B = qkv.shape[0], T = qkv.shape[1], W = qkv.shape[2], hd = W / (H + 2 * KV)
        let x = values(qkv)
        var ref = x
        for b in 0..<B {
            for t in 0..<T {
                let pos = Double(t + offset)
                for h in 0..<(H + KV) {
                    for i in 0..<(hd / 2) {
                        let theta = pos * Foundation.pow(base, -2 * Double(i) / Double(hd))
                        let row = (b * T + t) * W + h * hd
                        let (ia, ib) = style == .halfSplit ? (i, i + hd / 2) : (2 * i, 2 * i + 1)
                        let a = x[row + ia], c = x[row + ib]
                        ref[row + ia] = a * Foundation.cos(theta) - c * Foundation.sin(theta)
                        ref[row + ib] = c * Foundation.cos(theta) + a * Foundation.sin(theta)
                    }
                }
            }
        }
        return ref
    }
}
