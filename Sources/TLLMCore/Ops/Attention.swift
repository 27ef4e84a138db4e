// MARK: - Fused multi-head scaled dot-product attention

/// Which keys each query may attend to.
public enum AttentionMask: Sendable, Equatable {
    /// Every query sees every key.
    case none
    /// Query `i` sees keys `0…i` (decoder).
    case causal
    /// Sequence `b` has `lengths[b]` real tokens; keys at or after that are padding (encoder).
    case keyPadding(lengths: [Int])
}

extension Tensor {
    /// Multi-head attention over a packed projection `qkv` of shape `[B, T, 3·D]` (queries, keys and
    /// values side by side, each `D = heads·headDim` wide, head `h` in columns `h·headDim…`).
    /// Returns `[B, T, D]`, heads side by side.
    ///
    /// One fused op. For every (batch, head) pair, in parallel: `S = scale·Q·Kᵀ` (sgemm reading Q and
    /// K in place through their row stride), mask + softmax on S in one pass (kept for backward),
    /// `O = P·V` (sgemm). Backward mirrors it: `dP = dO·Vᵀ`, `dV = Pᵀ·dO`,
    /// `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q` — four sgemms and
    /// one pass.
    public func attention(heads H: Int, mask: AttentionMask, scale: Float? = nil) -> Tensor {
        let qkv = self
        check(rank == 3 && lastDim % 3 == 0, "attention: qkv must be [B, T, 3·D], got \(shape)")
        let B = shape[0], T = shape[1], D = lastDim / 3
        check(D % H == 0, "attention: width \(D) is not a multiple of \(H) heads")
        let hd = D / H
        let s = scale ?? 1 / Float(hd).squareRoot()
        if case .keyPadding(let lengths) = mask {
            check(lengths.count == B, "attention: \(lengths.count) lengths for batch \(B)")
            check(lengths.allSatisfy { $0 >= 1 && $0 <= T }, "attention: lengths must be in 1…\(T)")
        }
        let out = Tensor(uninitialized: [B, T, D])
        let probs = Storage(count: B * H * T * T)  // [B, H, T, T] softmax(QKᵀ)
        let x = qkv.data, o = out.data, P = probs.pointer
        let ld = 3 * D

        @inline(__always) func validKeys(_ b: Int, _ i: Int) -> Int {
            switch mask {
            case .none: return T
            case .causal: return i + 1
            case .keyPadding(let lengths): return lengths[b]
            }
        }

        // Causal attention skips the blocks above the diagonal: queries of row block i only meet
        // keys of blocks 0…i (3/4 of the products for two blocks).
        let causal = mask == .causal
        let blk = causal && T >= 256 ? 128 : T
        let nb = (T + blk - 1) / blk

        Threading.withSingleThreadedBLAS {
            Parallel.forEach(B * H) { bh in
                let b = bh / H, h = bh % H
                let q = x + b * T * ld + h * hd, k = q + D, v = q + 2 * D
                let p = P + bh * T * T
                for ib in 0..<nb {
                    let r0 = ib * blk, rows = min(blk, T - r0)
                    let keys = causal ? r0 + rows : T
                    // S[r0..<r0+rows, 0..<keys] = scale · Q_block · K[0..<keys]ᵀ
                    GEMM.sgemm(transB: true, m: rows, n: keys, k: hd, alpha: s, a: q + r0 * ld, lda: ld, b: k, ldb: ld,
                               c: p + r0 * T, ldc: T)
                    for i in r0..<(r0 + rows) {
                        let row = p + i * T
                        let n = validKeys(b, i)
                        let m = VectorMath.max(row, n)
                        let sum = VectorMath.expShiftSum(row, row, n, shift: m)
                        VectorMath.scale(row, n, by: 1 / sum)
                        if n < T { (row + n).update(repeating: 0, count: T - n) }
                    }
                    // O_block = P[block, 0..<keys] · V[0..<keys]
                    GEMM.sgemm(m: rows, n: hd, k: keys, a: p + r0 * T, lda: T, b: v, ldb: ld,
                               c: o + (b * T + r0) * D + h * hd, ldc: D)
                }
            }
        }

        if Autograd.needsGrad(qkv) {
            Autograd.record(out, inputs: [qkv]) { out in
                let dO = out.gradStorage!.pointer
                let workers = Parallel.chunkCount(B * H)
                let scratch = Storage(count: workers * T * T)  // per-worker dP / dS [T, T]
                qkv.withGradBuffer { dx, acc in
                    let beta: Float = acc ? 1 : 0
                    Threading.withSingleThreadedBLAS {
                        Parallel.forChunks(B * H) { w, range in
                            let dP = scratch.pointer + w * T * T
                            for bh in range {
                                let b = bh / H, h = bh % H
                                let q = x + b * T * ld + h * hd, k = q + D, v = q + 2 * D
                                let dq = dx + b * T * ld + h * hd, dk = dq + D, dv = dq + 2 * D
                                let p = P + bh * T * T
                                let g = dO + b * T * D + h * hd
                                // Row blocks from the last (which meets every key, so it writes all of
                                // dK and dV) to the first (which adds into the leading rows only).
                                for ib in stride(from: nb - 1, through: 0, by: -1) {
                                    let r0 = ib * blk, rows = min(blk, T - r0)
                                    let keys = causal ? r0 + rows : T
                                    let kvBeta: Float = ib == nb - 1 ? beta : 1
                                    let pr0 = p + r0 * T, dP0 = dP + r0 * T, g0 = g + r0 * D
                                    // dP = dO·Vᵀ ; dV += Pᵀ·dO
                                    GEMM.sgemm(transB: true, m: rows, n: keys, k: hd, a: g0, lda: D, b: v, ldb: ld, c: dP0, ldc: T)
                                    GEMM.sgemm(transA: true, m: keys, n: hd, k: rows, a: pr0, lda: T, b: g0, ldb: D,
                                               beta: kvBeta, c: dv, ldc: ld)
                                    // dS = P ⊙ (dP − rowsum(P ⊙ dP))
                                    for i in r0..<(r0 + rows) {
                                        let pr = p + i * T, dr = dP + i * T
                                        let n = validKeys(b, i)
                                        let dot = VectorMath.dot(pr, dr, n)
                                        for j in 0..<n { dr[j] = pr[j] * (dr[j] - dot) }
                                        if n < keys { (dr + n).update(repeating: 0, count: keys - n) }
                                    }
                                    // dQ = scale·dS·K ; dK += scale·dSᵀ·Q
                                    GEMM.sgemm(m: rows, n: hd, k: keys, alpha: s, a: dP0, lda: T, b: k, ldb: ld,
                                               beta: beta, c: dq + r0 * ld, ldc: ld)
                                    GEMM.sgemm(transA: true, m: keys, n: hd, k: rows, alpha: s, a: dP0, lda: T, b: q + r0 * ld, ldb: ld,
                                               beta: kvBeta, c: dk, ldc: ld)
                                }
                            }
                        }
                    }
                }
                withExtendedLifetime(probs) {}
            }
        }
        return out
    }

    /// Rotary position embedding (RoPE, "rotate half" layout as in GPT-NeoX / Llama) applied to
    /// the query and key parts of a packed `[B, T, 3·D]` projection; values pass through.
    /// Position of token `t` is `offset + t`.
    public func rotaryEmbedding(heads H: Int, base: Float = 10_000, offset: Int = 0) -> Tensor {
        let qkv = self
        check(rank == 3 && lastDim % 3 == 0, "rotaryEmbedding: qkv must be [B, T, 3·D], got \(shape)")
        let B = shape[0], T = shape[1], D = lastDim / 3, hd = D / H, half = hd / 2
        check(hd % 2 == 0, "rotaryEmbedding: head size \(hd) must be even")
        let table = RotaryTable(positions: offset + T, halfDim: half, base: base)
        let out = Tensor(uninitialized: shape)
        let x = qkv.data, y = out.data, ld = 3 * D
        Parallel.forRanges(B * T, grain: 16) { r in
            for bt in r {
                let t = bt % T + offset
                let src = x + bt * ld, dst = y + bt * ld
                (dst + 2 * D).update(from: src + 2 * D, count: D)
                for part in 0..<2 {
                    for h in 0..<H {
                        let xs = src + part * D + h * hd, ys = dst + part * D + h * hd
                        for i in 0..<half {
                            let c = table.cos[t * half + i], sn = table.sin[t * half + i]
                            let a = xs[i], b = xs[i + half]
                            ys[i] = a * c - b * sn
                            ys[i + half] = b * c + a * sn
                        }
                    }
                }
            }
        }
        if Autograd.needsGrad(qkv) {
            Autograd.record(out, inputs: [qkv]) { out in
                let g = out.gradStorage!.pointer
                qkv.withGradBuffer { d, acc in
                    Parallel.forRanges(B * T, grain: 16) { r in
                        for bt in r {
                            let t = bt % T + offset
                            let gs = g + bt * ld, ds = d + bt * ld
                            for j in 0..<D { put(ds, 2 * D + j, gs[2 * D + j], acc) }
                            for part in 0..<2 {
                                for h in 0..<H {
                                    let go = gs + part * D + h * hd, dd = ds + part * D + h * hd
                                    for i in 0..<half {
                                        let c = table.cos[t * half + i], sn = table.sin[t * half + i]
                                        let ga = go[i], gb = go[i + half]
                                        put(dd, i, ga * c + gb * sn, acc)
                                        put(dd, i + half, gb * c - ga * sn, acc)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// cos/sin of `position · base^(−2i/d)` for RoPE, `[positions, halfDim]` each.
public struct RotaryTable: Sendable {
    public let cos: [Float]
    public let sin: [Float]

    public init(positions: Int, halfDim: Int, base: Float) {
        var c = [Float](repeating: 0, count: positions * halfDim)
        var s = c
        for i in 0..<halfDim {
            let inv = Foundation.pow(Double(base), -2 * Double(i) / Double(2 * halfDim))
            for p in 0..<positions {
                let a = Double(p) * inv
                c[p * halfDim + i] = Float(Foundation.cos(a))
                s[p * halfDim + i] = Float(Foundation.sin(a))
            }
        }
        cos = c
        sin = s
    }
}

import Foundation
