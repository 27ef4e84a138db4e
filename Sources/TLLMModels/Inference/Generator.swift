import CBLAS
import TLLMCore

/// Incremental decoding with a key/value cache: each new token costs one pass through the blocks
/// for that token only; the prefix is never recomputed. Buffers are allocated once per generator.
///
/// Every product is BLAS: sgemm for the prompt (many rows), sgemv for single tokens.
public final class Generator {
    public let model: GPTModel
    let c: ModelConfig
    /// Keys and values per layer: `[context, d]` each.
    let keys: [Storage], values: [Storage]
    /// Tokens currently in the cache.
    public private(set) var length = 0
    // Scratch, sized for a whole context of rows.
    let x: Storage, h: Storage, qkv: Storage, att: Storage, mlp: Storage, up: Storage, scores: Storage
    /// Logits of the last token fed: `[vocab]`.
    public let logits: Storage
    let rope: RotaryTable?

    public init(model: GPTModel) {
        self.model = model
        c = model.config
        let T = c.context, d = c.dModel
        keys = (0..<c.layers).map { _ in Storage(count: T * d) }
        values = (0..<c.layers).map { _ in Storage(count: T * d) }
        x = Storage(count: T * d); h = Storage(count: T * d); qkv = Storage(count: T * 3 * d); att = Storage(count: T * d)
        mlp = Storage(count: T * c.mlpHidden); up = Storage(count: T * c.mlpHidden)
        scores = Storage(count: T * T)
        logits = Storage(count: c.vocabSize)
        rope = c.positions == .rope ? RotaryTable(positions: T, halfDim: c.headDim / 2, base: c.ropeBase) : nil
    }

    /// Empties the cache.
    public func reset() { length = 0 }

    /// How many more tokens fit.
    public var remaining: Int { c.context - length }

    /// Feeds `tokens` (appended after the cached ones) and leaves the logits of the last one in
    /// ``logits``. Needs `tokens.count ≤ remaining`.
    public func feed(_ tokens: [Int32]) {
        let m = tokens.count
        precondition(m > 0 && m <= remaining, "Generator.feed: \(m) tokens, \(remaining) positions left")
        let d = c.dModel, H = c.heads, hd = c.headDim, T = c.context, hidden = c.mlpHidden
        let xp = x.pointer, hp = h.pointer, qp = qkv.pointer, ap = att.pointer, sp = scores.pointer
        let wte = model.tokenEmbedding.data
        for (i, t) in tokens.enumerated() {
            (xp + i * d).update(from: wte + Int(t) * d, count: d)
            if let wpe = model.positionEmbedding { RowKernels.add(wpe.data + (length + i) * d, into: xp + i * d, count: d) }
        }
        let scale = 1 / Float(hd).squareRoot()
        for (l, b) in model.blocks.enumerated() {
            // h = norm(x); qkv = h·Wᵀ + b
            norm(xp, hp, m, b.ln1Weight, b.ln1Bias)
            if let bias = b.attnBias { RowKernels.fillRows(qp, rows: m, with: bias.data, cols: 3 * d) }
            RowKernels.linear(hp, rows: m, in: d, weight: b.attnWeight.data, out: 3 * d, into: qp, accumulate: b.attnBias != nil)
            if let rope { applyRope(qp, rows: m, table: rope) }
            let K = keys[l].pointer, V = values[l].pointer
            for i in 0..<m {
                (K + (length + i) * d).update(from: qp + i * 3 * d + d, count: d)
                (V + (length + i) * d).update(from: qp + i * 3 * d + 2 * d, count: d)
            }
            let L = length + m
            for hh in 0..<H {
                let q = qp + hh * hd, kh = K + hh * hd, vh = V + hh * hd
                // scores[m, L] = scale · q_h · K_hᵀ
                if m == 1 {
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(L), Int32(hd), scale, kh, Int32(d), q, 1, 0, sp, 1)
                } else {
                    GEMM.sgemm(transB: true, m: m, n: L, k: hd, alpha: scale, a: q, lda: 3 * d, b: kh, ldb: d, c: sp, ldc: L)
                }
                for i in 0..<m { RowKernels.softmax(sp + i * L, count: L, valid: length + i + 1) }
                // att_h[m, hd] = scores · V_h
                if m == 1 {
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(L), Int32(hd), 1, vh, Int32(d), sp, 1, 0, ap + hh * hd, 1)
                } else {
                    GEMM.sgemm(m: m, n: hd, k: L, a: sp, lda: L, b: vh, ldb: d, c: ap + hh * hd, ldc: d)
                }
            }
            // x += att · Wprojᵀ + b
            if let bias = b.attnProjBias { for i in 0..<m { RowKernels.add(bias.data, into: xp + i * d, count: d) } }
            RowKernels.linear(ap, rows: m, in: d, weight: b.attnProjWeight.data, out: d, into: xp, accumulate: true)
            // MLP
            norm(xp, hp, m, b.ln2Weight, b.ln2Bias)
            let mp = mlp.pointer
            if let bias = b.fcBias { RowKernels.fillRows(mp, rows: m, with: bias.data, cols: hidden) }
            RowKernels.linear(hp, rows: m, in: d, weight: b.fcWeight.data, out: hidden, into: mp, accumulate: b.fcBias != nil)
            if c.activation == .gelu {
                RowKernels.gelu(mp, count: m * hidden)
            } else {
                RowKernels.linear(hp, rows: m, in: d, weight: b.upWeight!.data, out: hidden, into: up.pointer, accumulate: false)
                RowKernels.swiglu(mp, up.pointer, count: m * hidden)
            }
            if let bias = b.projBias { for i in 0..<m { RowKernels.add(bias.data, into: xp + i * d, count: d) } }
            RowKernels.linear(mp, rows: m, in: hidden, weight: b.projWeight.data, out: d, into: xp, accumulate: true)
        }
        length += m
        // Logits of the last row only.
        let last = xp + (m - 1) * d
        norm(last, hp, 1, model.finalNormWeight, model.finalNormBias)
        RowKernels.linear(hp, rows: 1, in: d, weight: wte, out: c.vocabSize, into: logits.pointer, accumulate: false)
        _ = T
    }

    @inline(__always)
    func norm(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ rows: Int, _ g: Tensor, _ b: Tensor?) {
        if c.norm == .layernorm {
            RowKernels.layerNorm(src, dst, rows: rows, cols: c.dModel, gamma: g.data, beta: b?.data, eps: c.normEps)
        } else {
            RowKernels.rmsNorm(src, dst, rows: rows, cols: c.dModel, gamma: g.data, eps: c.normEps)
        }
    }

    func applyRope(_ qp: UnsafeMutablePointer<Float>, rows m: Int, table: RotaryTable) {
        let d = c.dModel, hd = c.headDim, half = hd / 2
        for i in 0..<m {
            let pos = length + i
            for part in 0..<2 {
                for hh in 0..<c.heads {
                    let v = qp + i * 3 * d + part * d + hh * hd
                    for j in 0..<half {
                        let cs = table.cos[pos * half + j], sn = table.sin[pos * half + j]
                        let a = v[j], bb = v[j + half]
                        v[j] = a * cs - bb * sn
                        v[j + half] = bb * cs + a * sn
                    }
                }
            }
        }
    }
}

/// How the next token is chosen from logits.
public struct SamplingOptions: Sendable {
    /// 0 = greedy (argmax).
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens (0 = all).
    public var topK: Int = 200
    /// Keep the smallest set of tokens whose probability reaches p (1 = all).
    public var topP: Float = 1
    public init(temperature: Float = 0.8, topK: Int = 200, topP: Float = 1) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
    }
}

public enum Sampler {
    /// Picks a token from `logits[0..<n]`.
    public static func sample(_ logits: UnsafePointer<Float>, count n: Int, options o: SamplingOptions,
                              rng: inout RandomGenerator) -> Int32 {
        if o.temperature <= 0 {
            var best = 0
            for i in 1..<n where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        var idx = Array(0..<n)
        if o.topK > 0 && o.topK < n {
            idx.sort { logits[$0] > logits[$1] }
            idx = Array(idx.prefix(o.topK))
        } else if o.topP < 1 {
            idx.sort { logits[$0] > logits[$1] }
        }
        let m = idx.map { logits[$0] }.max() ?? 0
        var p = idx.map { Double(VectorMath.exp((logits[$0] - m) / o.temperature)) }
        let z = p.reduce(0, +)
        p = p.map { $0 / z }
        if o.topP < 1 {
            var cum = 0.0, keep = 0
            for (k, v) in p.enumerated() { cum += v; keep = k + 1; if cum >= Double(o.topP) { break } }
            idx = Array(idx.prefix(keep)); p = Array(p.prefix(keep))
            let z2 = p.reduce(0, +); p = p.map { $0 / z2 }
        }
        let u = rng.nextDouble()
        var cum = 0.0
        for (k, v) in p.enumerated() {
            cum += v
            if u < cum { return Int32(idx[k]) }
        }
        return Int32(idx.last ?? 0)
    }
}

extension Generator {
    /// Generates up to `maxTokens` after `prompt`, calling `onToken` as each arrives (return false
    /// to stop). When the context fills, the cache is rebuilt from the last half of the context.
    public func generate(prompt: [Int32], maxTokens: Int, options: SamplingOptions, seed: UInt64,
                         stopAt: Set<Int32> = [], onToken: (Int32) -> Bool = { _ in true }) -> [Int32] {
        BLASRuntime.withSpinningThreads { generateTokens(prompt: prompt, maxTokens: maxTokens, options: options, seed: seed,
                                                        stopAt: stopAt, onToken: onToken) }
    }

    func generateTokens(prompt: [Int32], maxTokens: Int, options: SamplingOptions, seed: UInt64,
                        stopAt: Set<Int32>, onToken: (Int32) -> Bool) -> [Int32] {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("sample"))
        var history = prompt.isEmpty ? [Int32(0)] : prompt
        reset()
        let start = history.count > c.context ? Array(history.suffix(c.context)) : history
        feed(start)
        var out: [Int32] = []
        for _ in 0..<maxTokens {
            let t = Sampler.sample(logits.pointer, count: c.vocabSize, options: options, rng: &rng)
            out.append(t)
            history.append(t)
            if stopAt.contains(t) || !onToken(t) { break }
            if remaining == 0 {
                reset()
                feed(Array(history.suffix(c.context / 2)))
            } else {
                feed([t])
            }
        }
        return out
    }
}
