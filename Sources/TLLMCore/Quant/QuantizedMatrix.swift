import CBLAS
import Foundation
import TLLMKernelsAVX2
import TLLMKernelsAVX512

/// A weight matrix `[rows, cols]` (PyTorch `nn.Linear` layout: a row per output) stored in a
/// GGML type — quantized blocks, bf16, f16 or f32 — typically straight from a memory-mapped file.
///
/// Products:
/// - one row of activations (decoding): ``gemv(_:into:)`` reads the blocks directly with the
///   SIMD kernels (AVX-512 or AVX2, chosen at run time), parallel over output rows;
/// - many rows (prefill, scoring): ``apply(_:rows:into:ldy:accumulate:)`` dequantizes panels of
///   weight rows into an f32 scratch and multiplies with `cblas_sgemm`.
public final class QuantizedMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let type: QuantType
    /// The first row's first block.
    public let data: UnsafeRawPointer
    /// Bytes from one row to the next.
    public let rowBytes: Int
    /// Whatever keeps `data` alive (a mapped file, an owned buffer).
    let owner: AnyObject?

    public init(rows: Int, cols: Int, type: QuantType, data: UnsafeRawPointer, owner: AnyObject?) {
        check(cols % type.blockSize == 0, "QuantizedMatrix: \(cols) columns are not whole \(type) blocks")
        self.rows = rows; self.cols = cols; self.type = type; self.data = data; self.owner = owner
        rowBytes = type.rowBytes(cols)
    }

    /// Encodes an f32 matrix `[rows, cols]` (owned copy).
    public convenience init(quantizing m: UnsafePointer<Float>, rows: Int, cols: Int, type: QuantType) {
        let buffer = OwnedBytes(count: rows * type.rowBytes(cols))
        for r in 0..<rows { BlockCodec.encodeRow(m + r * cols, count: cols, type: type, into: buffer.pointer + r * type.rowBytes(cols)) }
        self.init(rows: rows, cols: cols, type: type, data: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// Bytes of weight data.
    public var byteCount: Int { rows * rowBytes }

    /// Row `r` as floats.
    public func decodeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        BlockCodec.decodeRow(data + r * rowBytes, type: type, count: cols, into: out)
    }

    // MARK: - One row of activations

    /// `y[rows] = W · x[cols]`, parallel over output rows.
    public func gemv(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        if type == .f32 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(cols), 1, data.assumingMemoryBound(to: Float.self),
                        Int32(cols), x, 1, 0, y, 1)
            return
        }
        if type == .f16 { return gemvByDecoding(x, into: y) }
        let input = QuantDispatch.prepare(x, count: cols, type: type)
        QuantDispatch.parallelRows([(self, y)], input: input)
    }

    /// f16 (rare in files tllm reads): decode rows, dot in f32.
    func gemvByDecoding(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(rows, grain: 64) { range in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { row.deallocate() }
            for r in range { decodeRow(r, into: row); y[r] = VectorMath.dot(row, x, cols) }
        }
    }

    // MARK: - Many rows of activations

    /// `y[n, rows] (+)= x[n, cols] · Wᵀ` with `y`'s rows `ldy` apart: a GEMV per row for one
    /// row, else panels of W dequantized (≤ 4 MiB each) and `cblas_sgemm`.
    public func apply(_ x: UnsafePointer<Float>, rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        if n == 1 {
            guard accumulate else { return gemv(x, into: y) }
            let t = QuantScratch.output(rows)
            gemv(x, into: t)
            RowKernels.add(t, into: y, count: rows)
            return
        }
        if type == .f32 {
            GEMM.sgemm(transB: true, m: n, n: rows, k: cols, a: x, lda: cols, b: data.assumingMemoryBound(to: Float.self), ldb: cols,
                       beta: accumulate ? 1 : 0, c: y, ldc: ldy)
            return
        }
        let panelRows = max(16, min(rows, (1 << 20) / max(1, cols)))
        let panel = QuantScratch.panel(panelRows * cols)
        var r0 = 0
        while r0 < rows {
            let pr = min(panelRows, rows - r0)
            Parallel.forRanges(pr, grain: 16) { range in for r in range { decodeRow(r0 + r, into: panel + r * cols) } }
            GEMM.sgemm(transB: true, m: n, n: pr, k: cols, a: x, lda: cols, b: panel, ldb: cols,
                       beta: accumulate ? 1 : 0, c: y + r0, ldc: ldy)
            r0 += pr
        }
    }
}

/// Bytes tllm owns (quantized copies it made itself).
final class OwnedBytes {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) { pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, count), alignment: 64) }
    deinit { pointer.deallocate() }
}

/// Per-thread scratch for permuted activations and dequantized panels (no allocation per call).
enum QuantScratch {
    nonisolated(unsafe) static var activations = Storage(count: 1)
    nonisolated(unsafe) static var panels = Storage(count: 1)
    nonisolated(unsafe) static var outputs = Storage(count: 1)
    static let lock = NSLock()

    /// Scratch of at least `count` floats for the permuted x (decoding runs on one thread at a time).
    static func local(_ count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        if activations.count < count { activations = Storage(count: count) }
        return activations.pointer
    }

    static func output(_ count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        if outputs.count < count { outputs = Storage(count: count) }
        return outputs.pointer
    }

    static func panel(_ count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        if panels.count < count { panels = Storage(count: count) }
        return panels.pointer
    }
}

/// Lane orders and helpers are the same in both kernel builds; these come from the AVX2 one.
typealias K = TLLMKernelsAVX2.QuantizedKernels

/// Which SIMD kernels run: AVX-512 (F, BW, VL, VNNI; the build targets Cascade Lake) when the CPU
/// has them, AVX2 otherwise. Tests can
/// force either (`TLLM_QUANT_KERNELS=avx2|avx512`).
public enum QuantDispatch {
    public enum Path: String, Sendable { case avx2, avx512 }

    /// What the 4- and 8-bit kernels multiply the weights with.
    public enum Activations: String, Sendable {
        /// x quantized to 8 bits per block of 32 (scale = max |x| / 127), exact integer dot
        /// products (`vpdpbusd` with AVX-512 VNNI, `vpmaddubsw` with AVX2) — llama.cpp's
        /// arithmetic, about 3× fewer instructions per weight. The default.
        case int8
        /// x in f32, weights unpacked to f32 lanes: the exact product of the dequantized weights
        /// (`TLLM_QUANT_ACTIVATIONS=f32`).
        case f32
    }

    /// Whether this CPU can run a path.
    public static func supports(_ p: Path) -> Bool {
        #if arch(x86_64)
        let f = CPUFeatures.flags
        switch p {
        case .avx2: return f.contains("avx2") && f.contains("fma") && f.contains("f16c")
        case .avx512: return supports(.avx2) && ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(f.contains)
        }
        #else
        return true
        #endif
    }

    /// The path in use.
    nonisolated(unsafe) public static var path: Path = {
        if let s = ProcessInfo.processInfo.environment["TLLM_QUANT_KERNELS"], let p = Path(rawValue: s), supports(p) { return p }
        return supports(.avx512) ? .avx512 : .avx2
    }()

    /// The activations of the 4- and 8-bit kernels.
    nonisolated(unsafe) public static var activations: Activations = {
        #if arch(x86_64)
        if let s = ProcessInfo.processInfo.environment["TLLM_QUANT_ACTIVATIONS"], let a = Activations(rawValue: s) { return a }
        return .int8
        #else
        return .f32
        #endif
    }()

    /// Whether a product of `type` runs on the integer kernels.
    static func usesIntegers(_ type: QuantType) -> Bool {
        activations == .int8 && (type == .q4_0 || type == .q4_1 || type == .q8_0)
    }

    // MARK: - Prepared activations

    /// x in the form the kernels of one type read, in the per-thread scratch.
    struct Input {
        /// f32 kernels: x permuted into the kernel's lane order [cols].
        var xp: UnsafeMutablePointer<Float>
        /// f32 kernels: block sums of x; integer kernels: d·Σ q per block [cols/32].
        var xs: UnsafeMutablePointer<Float>
        /// Integer kernels: x as int8 [cols], its block scales [cols/32], and −128·(sums of 4
        /// consecutive q) [cols/4] (the VNNI Q8_0 correction).
        var xq: UnsafeMutablePointer<Int8>
        var xd: UnsafeMutablePointer<Float>
        var xc: UnsafeMutablePointer<Int32>
        /// 4-bit integer kernels: xq regrouped by ``regroup(_:blocks:into:)`` [cols].
        var xg: UnsafeMutablePointer<Int8>
    }

    /// x prepared for `type`'s kernels (`count` a multiple of 32).
    static func prepare(_ x: UnsafePointer<Float>, count: Int, type: QuantType) -> Input {
        let blocks = count / 32
        // Floats: xp [count] | xs [blocks] | xd [blocks] | xc [count/4] | xq [count bytes] | xg [count bytes]
        let scratch = QuantScratch.local(count + 2 * blocks + 3 * count / 4)
        let input = Input(xp: scratch, xs: scratch + count,
                          xq: UnsafeMutableRawPointer(scratch + count + 2 * blocks + count / 4).assumingMemoryBound(to: Int8.self),
                          xd: scratch + count + blocks,
                          xc: UnsafeMutableRawPointer(scratch + count + 2 * blocks).assumingMemoryBound(to: Int32.self),
                          xg: UnsafeMutableRawPointer(scratch + count + 2 * blocks + count / 2).assumingMemoryBound(to: Int8.self))
        if usesIntegers(type) {
            quantize(x, blocks: blocks, into: input)
            if type != .q8_0 { regroup(input.xq, blocks: blocks, into: input.xg) }
            return input
        }
        switch type {
        case .q4_0, .q4_1:
            K.permute(x, count: count, into: input.xp, lane: K.nibbleLane)
            K.blockSums(x, count: count, into: input.xs)
        case .q8_0: K.permute(x, count: count, into: input.xp, lane: K.byteLane)
        case .bf16: K.permute(x, count: count, into: input.xp, lane: K.halfLane)
        case .f32, .f16: input.xp.update(from: x, count: count)
        }
        return input
    }

    /// Blocks of 32 of x as int8 with scale max |x| / 127 (round to nearest): `xq`, `xd`, `xs`,
    /// `xc` of `input`. A block with a NaN or infinity gets a NaN scale, so the product is NaN as
    /// with f32 arithmetic (never a trap converting it).
    public static func quantizeActivations(_ x: UnsafePointer<Float>, blocks: Int, q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let v = x + 32 * b
            var amax: Float = 0, finite = true
            for j in 0..<32 { amax = max(amax, abs(v[j])); finite = finite && v[j].isFinite }
            guard finite else {
                scales[b] = .nan
                for j in 0..<32 { q[32 * b + j] = 0 }
                continue
            }
            var d = amax / 127, id: Float = d > 0 ? 1 / d : 0
            if !id.isFinite { d = 0; id = 0 }             // |x| < ~1e-36: 1/d overflows; the block is 0 to f32 precision anyway
            scales[b] = d
            for j in 0..<32 { q[32 * b + j] = Int8((v[j] * id).rounded()) }
        }
    }

    /// x's int8 blocks regrouped for the 4-bit integer kernels: the first `8·⌊blocks/8⌋` blocks in
    /// units of 4 blocks, 128 bytes each — the first 16 values of each of the unit's blocks, then
    /// the last 16 of each — so that low nibbles (weights 0…15 of a block) and high nibbles
    /// (16…31) each meet x in one register (AVX-512: a unit per register; AVX2: half a unit).
    public static func regroup(_ xq: UnsafePointer<Int8>, blocks: Int, into xg: UnsafeMutablePointer<Int8>) {
        for u in 0..<(blocks / 8 * 2) {
            for j in 0..<4 {
                let src = xq + 32 * (4 * u + j)
                (xg + 128 * u + 16 * j).update(from: src, count: 16)
                (xg + 128 * u + 64 + 16 * j).update(from: src + 16, count: 16)
            }
        }
    }

    static func quantize(_ x: UnsafePointer<Float>, blocks: Int, into input: Input) {
        quantizeActivations(x, blocks: blocks, q: input.xq, scales: input.xd)
        for b in 0..<blocks {
            var sum: Int32 = 0
            for l in 0..<8 {
                var s: Int32 = 0
                for j in 0..<4 { s += Int32(input.xq[32 * b + 4 * l + j]) }
                input.xc[8 * b + l] = -128 * s
                sum += s
            }
            input.xs[b] = input.xd[b] * Float(sum)
        }
    }

    // MARK: - Rows in parallel

    /// All rows of each `(matrix, y)` pair (same input width and type) with prepared activations,
    /// split over the decode pool in chunks of about 64 rows.
    static func parallelRows(_ parts: [(QuantizedMatrix, UnsafeMutablePointer<Float>)], input: Input) {
        let total = parts.reduce(0) { $0 + $1.0.rows }
        let chunks = min(4 * max(1, Threading.count), max(1, total / 64))
        SpinPool.shared.run(chunks: chunks) { c in
            var lo = total * c / chunks
            let hi = total * (c + 1) / chunks
            var base = 0
            for (m, y) in parts {
                if lo < base + m.rows && lo < hi {
                    let end = min(hi, base + m.rows)
                    gemv(m, rows: (lo - base)..<(end - base), input: input, y: y)
                    lo = end
                }
                base += m.rows
            }
        }
    }

    /// Rows `rows` of `m · x` with prepared activations.
    static func gemv(_ m: QuantizedMatrix, rows: Range<Int>, input: Input, y: UnsafeMutablePointer<Float>) {
        if usesIntegers(m.type) { return integerGemv(m, rows: rows, input: input, y: y) }
        let blocks = m.cols / 32, xp = UnsafePointer(input.xp), xs = UnsafePointer(input.xs)
        switch (path, m.type) {
        case (.avx512, .q4_1): TLLMKernelsAVX512.QuantizedKernels.gemvQ4_1(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xp: xp, xs: xs, y: y)
        case (.avx512, .q4_0): TLLMKernelsAVX512.QuantizedKernels.gemvQ4_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xp: xp, xs: xs, y: y)
        case (.avx512, .q8_0): TLLMKernelsAVX512.QuantizedKernels.gemvQ8_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xp: xp, y: y)
        case (.avx512, .bf16): TLLMKernelsAVX512.QuantizedKernels.gemvBF16(m.data, rowBytes: m.rowBytes, rows: rows, cols: m.cols, xp: xp, y: y)
        case (.avx2, .q4_1): TLLMKernelsAVX2.QuantizedKernels.gemvQ4_1(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xp: xp, xs: xs, y: y)
        case (.avx2, .q4_0): TLLMKernelsAVX2.QuantizedKernels.gemvQ4_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xp: xp, xs: xs, y: y)
        case (.avx2, .q8_0): TLLMKernelsAVX2.QuantizedKernels.gemvQ8_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xp: xp, y: y)
        case (.avx2, .bf16): TLLMKernelsAVX2.QuantizedKernels.gemvBF16(m.data, rowBytes: m.rowBytes, rows: rows, cols: m.cols, xp: xp, y: y)
        case (_, .f32), (_, .f16): fatalError("QuantDispatch.gemv: \(m.type) goes through BLAS")
        }
    }

    /// The integer kernels of the path in use.
    static func integerGemv(_ m: QuantizedMatrix, rows: Range<Int>, input: Input, y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        let blocks = m.cols / 32, xq = UnsafePointer(input.xq), xd = UnsafePointer(input.xd), xs = UnsafePointer(input.xs)
        let xc = UnsafePointer(input.xc), xg = UnsafePointer(input.xg)
        switch (path == .avx512, m.type) {
        case (true, .q4_1): TLLMKernelsAVX512.IntegerKernels.gemvQ4_1(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xq: xq, xg: xg, xd: xd, xs: xs, y: y)
        case (true, .q4_0): TLLMKernelsAVX512.IntegerKernels.gemvQ4_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xq: xq, xg: xg, xd: xd, xs: xs, y: y)
        case (true, .q8_0): TLLMKernelsAVX512.IntegerKernels.gemvQ8_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xq: xq, xd: xd, xc: xc, y: y)
        case (false, .q4_1): TLLMKernelsAVX2.IntegerKernels.gemvQ4_1(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xq: xq, xg: xg, xd: xd, xs: xs, y: y)
        case (false, .q4_0): TLLMKernelsAVX2.IntegerKernels.gemvQ4_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xq: xq, xg: xg, xd: xd, xs: xs, y: y)
        case (false, .q8_0): TLLMKernelsAVX2.IntegerKernels.gemvQ8_0(m.data, rowBytes: m.rowBytes, rows: rows, blocks: blocks, xq: xq, xd: xd, xc: xc, y: y)
        default: fatalError("QuantDispatch.integerGemv: \(m.type) has no integer kernel")
        }
        #else
        fatalError("QuantDispatch.integerGemv: x86-64 only")
        #endif
    }
}
