import CBLAS
import TLLMCore

/// Incremental decoding of a ``GPTModel`` with a key/value cache: each new token costs one pass
/// through the blocks for that token only; the prefix is never recomputed. Buffers are allocated
/// once per decoder.
///
/// Every product is BLAS: sgemm for the prompt (many rows), sgemv for single tokens.
public final class GPTDecoder: IncrementalDecoder {
    public let model: GPTModel
    let c: ModelConfig
    /// Keys and values per layer: `[context, KV·hd]` each.
    let keys: [Storage], values: [Storage]
    public private(set) var length = 0
    // Scratch, sized for a whole context of rows.
    let x: Storage, h: Storage, qkv: Storage, att: Storage, mlp: Storage, up: Storage, scores: Storage
    /// Logits of the last token fed: `[vocab]`.
    let logitStorage: Storage
    let rope: RotaryTable?

    public init(model: GPTModel) {
        self.model = model
        c = model.config
        let T = c.context, d = c.dModel, kvWidth = c.kvHeads * c.headDim
        keys = (0..<c.layers).map { _ in Storage(count: T * kvWidth) }
        values = (0..<c.layers).map { _ in Storage(count: T * kvWidth) }
        x = Storage(count: T * d); h = Storage(count: T * d); att = Storage(count: T * d)
        qkv = Storage(count: T * (c.heads + 2 * c.kvHeads) * c.headDim)
        mlp = Storage(count: T * c.mlpHidden); up = Storage(count: T * c.mlpHidden)
        scores = Storage(count: T * T)
        logitStorage = Storage(count: c.vocabSize)
        rope = c.positions == .rope ? RotaryTable(positions: T, halfDim: c.headDim / 2, base: c.ropeBase) : nil
    }

    public var vocabularySize: Int { c.vocabSize }
    public var contextLength: Int { c.context }
    public var logits: UnsafeMutablePointer<Float> { logitStorage.pointer }

    public func reset() { length = 0 }

    public func feed(_ tokens: [Int32]) {
        let m = tokens.count
        precondition(m > 0 && m <= remaining, "GPTDecoder.feed: \(m) tokens, \(remaining) positions left")
        let d = c.dModel
        let xp = x.pointer, hp = h.pointer
        let wte = model.tokenEmbedding.weight.data
        for (i, t) in tokens.enumerated() {
            (xp + i * d).update(from: wte + Int(t) * d, count: d)
            if let wpe = model.positionEmbedding { RowKernels.add(wpe.weight.data + (length + i) * d, into: xp + i * d, count: d) }
        }
        for (l, b) in model.blocks.enumerated() {
            // x += c_proj(attention(rope(c_attn(ln_1(x)))))
            b.norm1.apply(xp, hp, rows: m)
            attention(b.attn, layer: l, rows: m)
            b.attn.proj.apply(att.pointer, rows: m, into: xp, accumulate: true)
            // x += mlp(ln_2(x))
            if let mlp = b.mlp, let norm2 = b.norm2 {
                norm2.apply(xp, hp, rows: m)
                mlp.apply(hp, rows: m, addingInto: xp, inner: self.mlp.pointer, gate: up.pointer)
            }
        }
        length += m
        // Logits of the last row only.
        model.finalNorm.apply(xp + (m - 1) * d, hp, rows: 1)
        RowKernels.linear(hp, rows: 1, in: d, weight: model.outputWeight.data, out: c.vocabSize, into: logits, accumulate: false)
    }

    /// `att[m, H·hd]` = attention of the `m` new rows of `h` (normalised) over the cache, after
    /// appending their keys and values to layer `l`'s cache.
    func attention(_ a: Attention, layer l: Int, rows m: Int) {
        let H = a.heads, KV = a.kvHeads, hd = a.headDim, group = H / KV
        let width = (H + 2 * KV) * hd, kvWidth = KV * hd, D = H * hd
        let qp = qkv.pointer, ap = att.pointer, sp = scores.pointer
        a.qkv.apply(h.pointer, rows: m, into: qp, accumulate: false)
        if let rope, let rotary = a.rotary { applyRope(qp, rows: m, heads: H + KV, headDim: hd, width: width, table: rope, style: rotary.style) }
        let K = keys[l].pointer, V = values[l].pointer
        for i in 0..<m {
            (K + (length + i) * kvWidth).update(from: qp + i * width + D, count: kvWidth)
            (V + (length + i) * kvWidth).update(from: qp + i * width + D + kvWidth, count: kvWidth)
        }
        let L = length + m
        let scale = 1 / Float(hd).squareRoot()
        for hh in 0..<H {
            let q = qp + hh * hd, kh = K + (hh / group) * hd, vh = V + (hh / group) * hd
            // scores[m, L] = scale · q_h · K_hᵀ
            if m == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(L), Int32(hd), scale, kh, Int32(kvWidth), q, 1, 0, sp, 1)
            } else {
                GEMM.sgemm(transB: true, m: m, n: L, k: hd, alpha: scale, a: q, lda: width, b: kh, ldb: kvWidth, c: sp, ldc: L)
            }
            for i in 0..<m { RowKernels.softmax(sp + i * L, count: L, valid: length + i + 1) }
            // att_h[m, hd] = scores · V_h
            if m == 1 {
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(L), Int32(hd), 1, vh, Int32(kvWidth), sp, 1, 0, ap + hh * hd, 1)
            } else {
                GEMM.sgemm(m: m, n: hd, k: L, a: sp, lda: L, b: vh, ldb: kvWidth, c: ap + hh * hd, ldc: D)
            }
        }
    }

    /// Rotates the query and key heads of `m` packed rows in place (positions `length…`).
    func applyRope(_ qp: UnsafeMutablePointer<Float>, rows m: Int, heads: Int, headDim hd: Int, width: Int,
                   table: RotaryTable, style: RotaryStyle) {
        for i in 0..<m { table.rotate(qp + i * width, heads: heads, headDim: hd, position: length + i, style: style) }
    }
}
