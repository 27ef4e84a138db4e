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
    /// Multi-head attention over a packed projection `qkv` of shape `[B, T, (H + 2·KV)·hd]`:
    /// queries (`H` heads), then keys and values (`KV` heads each), head `h` of a part in columns
    /// `h·hd…`. With grouped-query attention (`kvHeads` < `heads`), query head `h` reads key/value
    /// head `h / (H/KV)`; `kvHeads == heads` (the default) is ordinary multi-head attention.
    /// Returns `[B, T, H·hd]`, heads side by side.
    ///
    /// One fused op. For every (batch, head) pair, in parallel: `S = scale·Q·Kᵀ` (sgemm reading Q and
    /// K in place through their row stride), mask + softmax on S in one pass (kept for backward),
    /// `O = P·V` (sgemm). Backward mirrors it: `dP = dO·Vᵀ`, `dV = Pᵀ·dO`,
    /// `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q` — four sgemms and
    /// one pass.
    public func attention(heads H: Int, kvHeads: Int? = nil, mask: AttentionMask, scale: Float? = nil) -> Tensor {
        let qkv = self
        let KV = kvHeads ?? H
        check(KV >= 1 && H % KV == 0, "attention: \(H) query heads cannot share \(KV) key/value heads evenly")
        check(rank == 3 && lastDim % (H + 2 * KV) == 0, "attention: qkv must be [B, T, (\(H) + 2·\(KV))·headDim], got \(shape)")
        let B = shape[0], T = shape[1], hd = lastDim / (H + 2 * KV), D = H * hd
        let group = H / KV            // query heads per key/value head
        let kOffset = D, vOffset = D + KV * hd
        let s = scale ?? 1 / Float(hd).squareRoot()
        if case .keyPadding(let lengths) = mask {
            check(lengths.count == B, "attention: \(lengths.count) lengths for batch \(B)")
            check(lengths.allSatisfy { $0 >= 1 && $0 <= T }, "attention: lengths must be in 1…\(T)")
        }
        let out = Tensor(uninitialized: [B, T, D])
        let probs = Storage(count: B * H * T * T)  // [B, H, T, T] softmax(QKᵀ)
        let x = qkv.data, o = out.data, P = probs.pointer
        let ld = lastDim

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
                let row0 = x + b * T * ld
                let q = row0 + h * hd, k = row0 + kOffset + (h / group) * hd, v = row0 + vOffset + (h / group) * hd
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
                // Parallel over (batch, key/value head): the query heads of a group add into the
                // same dK and dV, so one worker takes the whole group, in head order.
                let workers = Parallel.chunkCount(B * KV)
                let scratch = Storage(count: workers * T * T)  // per-worker dP / dS [T, T]
                qkv.withGradBuffer { dx, acc in
                    let beta: Float = acc ? 1 : 0
                    Threading.withSingleThreadedBLAS {
                        Parallel.forChunks(B * KV) { w, range in
                            let dP = scratch.pointer + w * T * T
                            for bg in range {
                                let b = bg / KV, kvh = bg % KV
                                let row0 = x + b * T * ld, drow0 = dx + b * T * ld
                                let k = row0 + kOffset + kvh * hd, v = row0 + vOffset + kvh * hd
                                let dk = drow0 + kOffset + kvh * hd, dv = drow0 + vOffset + kvh * hd
                                for h in (kvh * group)..<((kvh + 1) * group) {
                                    let q = row0 + h * hd, dq = drow0 + h * hd
                                    let p = P + (b * H + h) * T * T
                                    let g = dO + b * T * D + h * hd
                                    // Row blocks from the last (which meets every key, so the group's
                                    // first head writes all of dK and dV) to the first (which adds
                                    // into the leading rows only).
                                    for ib in stride(from: nb - 1, through: 0, by: -1) {
                                        let r0 = ib * blk, rows = min(blk, T - r0)
                                        let keys = causal ? r0 + rows : T
                                        let kvBeta: Float = ib == nb - 1 && h == kvh * group ? beta : 1
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
                }
                withExtendedLifetime(probs) {}
            }
        }
        return out
    }

    /// Rotary position embedding (RoPE) applied to the query and key parts of a packed
    /// `[B, T, (H + 2·KV)·hd]` projection (see ``attention(heads:kvHeads:mask:scale:)``); values
    /// pass through. Position of token `t` is `offset + t`. `style` says which coordinates rotate
    /// together: `(x[i], x[i + hd/2])` (GPT-NeoX, HF Llama) or `(x[2i], x[2i+1])` (GPT-J, and Llama
    /// weights in GGUF files, whose converters permute the Q and K rows).
    public func rotaryEmbedding(heads H: Int, kvHeads: Int? = nil, base: Float = 10_000, offset: Int = 0,
                                style: RotaryStyle = .halfSplit) -> Tensor {
        let qkv = self
        let KV = kvHeads ?? H
        check(rank == 3 && lastDim % (H + 2 * KV) == 0, "rotaryEmbedding: qkv must be [B, T, (\(H) + 2·\(KV))·headDim], got \(shape)")
        let B = shape[0], T = shape[1], hd = lastDim / (H + 2 * KV), half = hd / 2
        check(hd % 2 == 0, "rotaryEmbedding: head size \(hd) must be even")
        let table = RotaryTable(positions: offset + T, halfDim: half, base: base)
        let out = Tensor(uninitialized: shape)
        let x = qkv.data, y = out.data, ld = lastDim
        let rotated = (H + KV) * hd              // queries then keys rotate; values are copied
        let pair = style.pairing(headDim: hd)
        Parallel.forRanges(B * T, grain: 16) { r in
            for bt in r {
                let t = bt % T + offset
                (y + bt * ld).update(from: x + bt * ld, count: ld)
                table.rotate(y + bt * ld, heads: H + KV, headDim: hd, position: t, style: style)
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
                            for j in rotated..<ld { put(ds, j, gs[j], acc) }
                            for h in 0..<(H + KV) {
                                let go = gs + h * hd, dd = ds + h * hd
                                for i in 0..<half {
                                    let c = table.cos[t * half + i], sn = table.sin[t * half + i]
                                    let (ia, ib) = pair(i)
                                    let ga = go[ia], gb = go[ib]
                                    put(dd, ia, ga * c + gb * sn, acc)
                                    put(dd, ib, gb * c - ga * sn, acc)
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

/// Which coordinates of a head RoPE rotates together (pair `i` turns by `position · base^(−2i/hd)`).
public enum RotaryStyle: String, Codable, Sendable {
    /// `(x[i], x[i + hd/2])`: GPT-NeoX, HuggingFace Llama ("rotate half").
    case halfSplit = "half"
    /// `(x[2i], x[2i + 1])`: GPT-J, and Llama weights as GGUF files store them.
    case interleaved

    /// The two coordinates of pair `i`.
    @inline(__always)
    public func pairing(headDim hd: Int) -> (Int) -> (Int, Int) {
        switch self {
        case .halfSplit: let half = hd / 2; return { ($0, $0 + half) }
        case .interleaved: return { (2 * $0, 2 * $0 + 1) }
        }
    }
}

/// cos/sin of `position · base^(−2i/d)` for RoPE, `[positions, halfDim]` each.
public struct RotaryTable: Sendable {
    public let cos: [Float]
    public let sin: [Float]

    /// Rotates the first `heads` heads of one packed row in place, at `position`.
    @inline(__always)
    public func rotate(_ row: UnsafeMutablePointer<Float>, heads: Int, headDim hd: Int, position: Int, style: RotaryStyle) {
        let half = hd / 2
        let pair = style.pairing(headDim: hd)
        for h in 0..<heads {
            let v = row + h * hd
            for i in 0..<half {
                let c = cos[position * half + i], sn = sin[position * half + i]
                let (ia, ib) = pair(i)
                let a = v[ia], b = v[ib]
                v[ia] = a * c - b * sn
                v[ib] = b * c + a * sn
            }
        }
    }

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
