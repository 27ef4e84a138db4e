import CBLAS
import TLLMCore

/// Incremental decoding of a ``DecoderStack`` with a key/value cache: each new token costs one
/// pass through the blocks for that token only; the prefix is never recomputed.
///
/// Prompts run in chunks of at most `chunk` rows (sgemm, or dequantized panels + sgemm, for the
/// projections); single tokens use matrix–vector products (sgemv, or the quantized SIMD
/// kernels). The cache grows as tokens arrive, up to the context; scratch is sized once per chunk.
public final class TransformerDecoder: IncrementalDecoder {
    public let stack: DecoderStack
    public let chunk: Int
    public private(set) var length = 0
    /// Keys and values per block: `[capacity, KV·hd]` each.
    var keys: [Storage] = [], values: [Storage] = []
    var capacity = 0
    // Scratch for `chunk` rows.
    let x: Storage, h: Storage, qkv: Storage, att: Storage, inner: Storage, gate: Storage
    var scores: Storage
    let logitStorage: Storage
    let rope: RotaryTable?
    /// Per block, gate and up as one stacked product for single-token steps (quantized stacks).
    let gateUp: [StackedLinear?]

    public init(stack: DecoderStack, chunk: Int = 512) {
        self.stack = stack
        self.chunk = max(1, min(chunk, stack.context))
        let n = self.chunk, d = stack.dModel
        x = Storage(count: n * d); h = Storage(count: n * d)
        qkv = Storage(count: n * stack.qkvWidth); att = Storage(count: n * stack.attentionWidth)
        inner = Storage(count: max(2, n) * max(1, stack.mlpHidden)); gate = Storage(count: max(1, n * stack.mlpHidden))
        scores = Storage(count: 1)
        logitStorage = Storage(count: stack.vocabularySize)
        gateUp = stack.blocks.map { b in
            guard let g = b.gate as? QuantizedLinear, let u = b.up as? QuantizedLinear else { return nil }
            let s = StackedLinear([g, u])
            return s.fusedMatrices != nil ? s : nil
        }
        let rotary = stack.blocks.first { $0.rotary != nil }
        rope = rotary.map { RotaryTable(positions: stack.context, halfDim: $0.headDim / 2, base: $0.rotary!.base) }
    }

    public var vocabularySize: Int { stack.vocabularySize }
    public var contextLength: Int { stack.context }
    public var logits: UnsafeMutablePointer<Float> { logitStorage.pointer }

    public func reset() { length = 0 }

    public func rewind(to n: Int) { length = max(0, min(length, n)) }

    /// f32 stacks decode on BLAS (sgemv); quantized ones on tllm's kernels.
    public var decodesWithBLAS: Bool { !(stack.output is QuantizedLinear) }

    /// Appends `tokens` and computes the logits after the last one.
    public func feed(_ tokens: [Int32]) {
        feed(tokens, logitsAt: [tokens.count - 1], into: logits)
    }

    /// Appends `tokens` and writes the logits after each token at the indices `at` (ascending)
    /// into `out` (`[at.count, vocab]`).
    public func feed(_ tokens: [Int32], logitsAt at: [Int], into out: UnsafeMutablePointer<Float>) {
        precondition(!tokens.isEmpty && tokens.count <= remaining, "TransformerDecoder.feed: \(tokens.count) tokens, \(remaining) positions left")
        reserve(length + tokens.count)
        var next = 0
        var start = 0
        while start < tokens.count {
            let m = min(chunk, tokens.count - start)
            if m == 1 && !decodesWithBLAS {
                Threading.withSingleThreadedBLAS { forward([tokens[start]]) }
            } else {
                forward(Array(tokens[start..<(start + m)]))
            }
            var rows: [Int] = []
            while next + rows.count < at.count, at[next + rows.count] < start + m { rows.append(at[next + rows.count] - start) }
            if !rows.isEmpty { project(rows, into: out + next * stack.vocabularySize) }
            next += rows.count
            start += m
        }
    }

    /// Grows the cache (by doubling, at most to the context) to hold `n` tokens.
    func reserve(_ n: Int) {
        guard n > capacity else { return }
        let newCapacity = min(stack.context, max(n, 2 * capacity, 64))
        let kvWidths = stack.blocks.map { $0.kvHeads * $0.headDim }
        keys = zip(kvWidths, keys + Array(repeating: Storage(count: 1), count: stack.blocks.count - keys.count)).map { w, old in
            let s = Storage(count: newCapacity * w)
            if capacity > 0 { s.pointer.update(from: old.pointer, count: length * w) }
            return s
        }
        values = zip(kvWidths, values + Array(repeating: Storage(count: 1), count: stack.blocks.count - values.count)).map { w, old in
            let s = Storage(count: newCapacity * w)
            if capacity > 0 { s.pointer.update(from: old.pointer, count: length * w) }
            return s
        }
        capacity = newCapacity
        scores = Storage(count: max(chunk, stack.blocks.map(\.heads).max() ?? 1) * capacity)
    }

    /// Runs `m` new tokens through every block; leaves their final residual rows in `x`.
    func forward(_ tokens: [Int32]) {
        let m = tokens.count, d = stack.dModel
        let xp = x.pointer, hp = h.pointer
        for (i, t) in tokens.enumerated() {
            stack.embed(t, xp + i * d)
            if let wpe = stack.positions { RowKernels.add(wpe.data + (length + i) * d, into: xp + i * d, count: d) }
        }
        for (l, b) in stack.blocks.enumerated() {
            // x += proj(attention(rope(qkv(norm1(x)))))
            b.norm1.apply(xp, hp, rows: m)
            attention(b, layer: l, rows: m)
            b.proj.apply(att.pointer, rows: m, into: xp, accumulate: true)
            // x += down(act(gate(norm2(x))) [⊙ up(norm2(x))])
            if let norm2 = b.norm2, let g = b.gate, let down = b.down {
                norm2.apply(xp, hp, rows: m)
                if m == 1, let gu = gateUp[l] {
                    // One pass for both: inner[0..<h] = gate, inner[h..<2h] = up.
                    let hidden = g.outFeatures
                    gu.apply(hp, rows: 1, into: inner.pointer, accumulate: false)
                    RowKernels.swiglu(inner.pointer, inner.pointer + hidden, count: hidden)
                    down.apply(inner.pointer, rows: 1, into: xp, accumulate: true)
                    continue
                }
                g.apply(hp, rows: m, into: inner.pointer, accumulate: false)
                if b.activation == .gelu {
                    RowKernels.gelu(inner.pointer, count: m * g.outFeatures)
                } else {
                    b.up!.apply(hp, rows: m, into: gate.pointer, accumulate: false)
                    RowKernels.swiglu(inner.pointer, gate.pointer, count: m * g.outFeatures)
                }
                down.apply(inner.pointer, rows: m, into: xp, accumulate: true)
            }
        }
        length += m
    }

    /// `att[m, H·hd]`: attention of the `m` new rows over the cache, after appending their keys
    /// and values to block `l`'s cache.
    func attention(_ b: DecoderStack.Block, layer l: Int, rows m: Int) {
        let H = b.heads, KV = b.kvHeads, hd = b.headDim, group = H / KV
        let width = (H + 2 * KV) * hd, kvWidth = KV * hd, D = H * hd
        let qp = qkv.pointer, ap = att.pointer, sp = scores.pointer
        b.qkv.apply(h.pointer, rows: m, into: qp, accumulate: false)
        if let rope, let rotary = b.rotary {
            for i in 0..<m { rope.rotate(qp + i * width, heads: H + KV, headDim: hd, position: length + i, style: rotary.style) }
        }
        let K = keys[l].pointer, V = values[l].pointer
        for i in 0..<m {
            (K + (length + i) * kvWidth).update(from: qp + i * width + D, count: kvWidth)
            (V + (length + i) * kvWidth).update(from: qp + i * width + D + kvWidth, count: kvWidth)
        }
        let L = length + m
        let scale = 1 / Float(hd).squareRoot()
        if m == 1 && !decodesWithBLAS {
            attendOne(q: qp, keys: K, values: V, length: L, heads: H, group: group, headDim: hd, kvWidth: kvWidth, scale: scale)
            return
        }
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

    /// One query row against `L` cached keys and values, heads split over the decode pool: dot
    /// products, softmax and the weighted sum in SIMD loops (tens of microseconds; per-head BLAS
    /// calls would cost more in overhead than in arithmetic).
    func attendOne(q: UnsafeMutablePointer<Float>, keys K: UnsafeMutablePointer<Float>, values V: UnsafeMutablePointer<Float>, length L: Int,
                   heads H: Int, group: Int, headDim hd: Int, kvWidth: Int, scale: Float) {
        let sp = scores.pointer, ap = att.pointer, cap = capacity
        SpinPool.shared.run(chunks: H) { hh in
            let qh = q + hh * hd, kh = K + (hh / group) * hd, vh = V + (hh / group) * hd
            let s = sp + hh * cap          // a row of scores per head
            for j in 0..<L { s[j] = scale * VectorMath.dotTree(qh, kh + j * kvWidth, hd) }
            RowKernels.softmax(s, count: L)
            let o = ap + hh * hd
            o.update(repeating: 0, count: hd)
            var j = 0
            while j + 4 <= L {
                VectorMath.axpy4(s + j, vh + j * kvWidth, kvWidth, o, hd)
                j += 4
            }
            while j < L { VectorMath.axpy(s[j], vh + j * kvWidth, o, hd); j += 1 }
        }
    }

    /// Logits of the given rows of the last chunk (final norm, then the output projection).
    func project(_ rows: [Int], into out: UnsafeMutablePointer<Float>) {
        let d = stack.dModel, hp = h.pointer
        for (k, r) in rows.enumerated() { stack.finalNorm.apply(x.pointer + r * d, hp + k * d, rows: 1) }
        stack.output.apply(hp, rows: rows.count, into: out, accumulate: false)
    }
}

extension GPTModel {
    public func makeDecoder() -> any IncrementalDecoder { TransformerDecoder(stack: decoderStack) }
}
