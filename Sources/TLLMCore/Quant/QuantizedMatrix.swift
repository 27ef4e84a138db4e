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
        let scratch = QuantScratch.local(cols + cols / 32)
        let xp = scratch, xs = scratch + cols
        QuantDispatch.prepare(x, count: cols, type: type, xp: xp, xs: xs)
        QuantDispatch.parallelRows([(self, y)], xp: xp, xs: xs)
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

/// Which SIMD kernels run: AVX-512 (F, BW, VL) when the CPU has them, AVX2 otherwise. Tests can
/// force either (`TLLM_QUANT_KERNELS=avx2|avx512`).
public enum QuantDispatch {
    public enum Path: String, Sendable { case avx2, avx512 }

    /// Whether this CPU can run a path.
    public static func supports(_ p: Path) -> Bool {
        #if arch(x86_64)
        let f = CPUFeatures.flags
        switch p {
        case .avx2: return f.contains("avx2") && f.contains("fma") && f.contains("f16c")
        case .avx512: return supports(.avx2) && f.contains("avx512f") && f.contains("avx512bw") && f.contains("avx512vl")
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

    /// x permuted into the lane order of `type`'s kernel, and (4-bit types) block sums.
    static func prepare(_ x: UnsafePointer<Float>, count: Int, type: QuantType, xp: UnsafeMutablePointer<Float>, xs: UnsafeMutablePointer<Float>) {
        switch type {
        case .q4_0, .q4_1:
            K.permute(x, count: count, into: xp, lane: K.nibbleLane)
            K.blockSums(x, count: count, into: xs)
        case .q8_0: K.permute(x, count: count, into: xp, lane: K.byteLane)
        case .bf16: K.permute(x, count: count, into: xp, lane: K.halfLane)
        case .f32, .f16: xp.update(from: x, count: count)
        }
    }

    /// All rows of each `(matrix, y)` pair (same input width and type) with prepared activations,
    /// split over the decode pool in chunks of about 64 rows.
    static func parallelRows(_ parts: [(QuantizedMatrix, UnsafeMutablePointer<Float>)], xp: UnsafePointer<Float>, xs: UnsafePointer<Float>) {
        let total = parts.reduce(0) { $0 + $1.0.rows }
        let chunks = min(4 * max(1, Threading.count), max(1, total / 64))
        SpinPool.shared.run(chunks: chunks) { c in
            var lo = total * c / chunks
            let hi = total * (c + 1) / chunks
            var base = 0
            for (m, y) in parts {
                if lo < base + m.rows && lo < hi {
                    let end = min(hi, base + m.rows)
                    gemv(m, rows: (lo - base)..<(end - base), xp: xp, xs: xs, y: y)
                    lo = end
                }
                base += m.rows
            }
        }
    }

    /// Rows `rows` of `m · x` with prepared activations.
    static func gemv(_ m: QuantizedMatrix, rows: Range<Int>, xp: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let blocks = m.cols / 32
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
}
