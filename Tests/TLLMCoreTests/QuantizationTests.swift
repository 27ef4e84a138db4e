import Foundation
import XCTest
import TLLMCore
import TLLMTestSupport

/// Block formats against hand-built blocks, and every SIMD kernel path against the f32 product of
/// the dequantized weights.
final class QuantizationTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func testHandBuiltBlocksDecodeExactly() {
        // Q4_1: d = 0.5, m = −1, nibbles j (low) and 15 − j (high) for qs[j].
        var q41 = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: Float16(0.5)) { q41[0] = $0[0]; q41[1] = $0[1] }
        withUnsafeBytes(of: Float16(-1)) { q41[2] = $0[0]; q41[3] = $0[1] }
        for j in 0..<16 { q41[4 + j] = UInt8(j) | UInt8(15 - j) << 4 }
        var out = [Float](repeating: 0, count: 32)
        q41.withUnsafeBytes { p in out.withUnsafeMutableBufferPointer { BlockCodec.decodeBlock(p.baseAddress!, type: .q4_1, into: $0.baseAddress!) } }
        XCTAssertEqual(out, (0..<16).map { 0.5 * Float($0) - 1 } + (0..<16).map { 0.5 * Float(15 - $0) - 1 })
        // Q8_0: d = 0.25, q = −16…15.
        var q80 = [UInt8](repeating: 0, count: 34)
        withUnsafeBytes(of: Float16(0.25)) { q80[0] = $0[0]; q80[1] = $0[1] }
        for j in 0..<32 { q80[2 + j] = UInt8(bitPattern: Int8(j - 16)) }
        q80.withUnsafeBytes { p in out.withUnsafeMutableBufferPointer { BlockCodec.decodeBlock(p.baseAddress!, type: .q8_0, into: $0.baseAddress!) } }
        XCTAssertEqual(out, (0..<32).map { 0.25 * Float($0 - 16) })
        // Q4_0: d = 2, nibble 8 is zero.
        var q40 = [UInt8](repeating: 0, count: 18)
        withUnsafeBytes(of: Float16(2)) { q40[0] = $0[0]; q40[1] = $0[1] }
        for j in 0..<16 { q40[2 + j] = 8 | UInt8(j) << 4 }
        q40.withUnsafeBytes { p in out.withUnsafeMutableBufferPointer { BlockCodec.decodeBlock(p.baseAddress!, type: .q4_0, into: $0.baseAddress!) } }
        XCTAssertEqual(out, [Float](repeating: 0, count: 16) + (0..<16).map { 2 * Float($0 - 8) })
        XCTAssertEqual(BlockCodec.bf16ToFloat(BlockCodec.floatToBF16(1.00390625)), 1.0)  // ties to even
        XCTAssertEqual(BlockCodec.bf16ToFloat(BlockCodec.floatToBF16(-3.5)), -3.5)
    }

    /// Encoding keeps each weight within half a quantization step of the original (Q4_0: one step
    /// on the side opposite its extreme, where ggml's scheme reaches only 7 steps).
    func testEncodingErrorIsWithinHalfAStep() {
        var rng = RandomGenerator(seed: 7)
        let x = (0..<256).map { _ in rng.nextNormal() }
        for type in [QuantType.q8_0, .q4_0, .q4_1] {
            let m = x.withUnsafeBufferPointer { QuantizedMatrix(quantizing: $0.baseAddress!, rows: 2, cols: 128, type: type) }
            var back = [Float](repeating: 0, count: 128)
            for r in 0..<2 {
                back.withUnsafeMutableBufferPointer { m.decodeRow(r, into: $0.baseAddress!) }
                for b in 0..<4 {
                    let block = x[(r * 128 + 32 * b)..<(r * 128 + 32 * b + 32)]
                    let amax = block.map(abs).max()!
                    let bound: Float
                    switch type {
                    case .q8_0: bound = 0.5 * amax / 127
                    case .q4_1: bound = 0.5 * (block.max()! - block.min()!) / 15
                    default: bound = amax / 8
                    }
                    for j in 0..<32 { XCTAssertLessThanOrEqual(abs(back[32 * b + j] - block[block.startIndex + j]), bound * 1.01 + 2e-3 * amax, "\(type)") }
                }
            }
        }
    }

    /// Every kernel path with f32 activations: the product equals the f32 product of the
    /// dequantized weights to 1e-5 relative (different summation order only).
    func testKernelsMatchTheDequantizedProduct() throws {
        var rng = RandomGenerator(seed: 11)
        let rows = 37, cols = 320
        let w = (0..<(rows * cols)).map { _ in rng.nextNormal() * 0.1 }, x = (0..<cols).map { _ in rng.nextNormal() }
        let paths = [QuantDispatch.Path.avx2, .avx512].filter(QuantDispatch.supports)
        let saved = QuantDispatch.path, savedActivations = QuantDispatch.activations
        defer { QuantDispatch.path = saved; QuantDispatch.activations = savedActivations }
        QuantDispatch.activations = .f32
        if !QuantDispatch.supports(.avx512) { print("note: this CPU has no AVX-512; only the AVX2 kernels are checked") }
        for type in [QuantType.q8_0, .q4_0, .q4_1, .bf16, .f16, .f32] {
            let m = w.withUnsafeBufferPointer { QuantizedMatrix(quantizing: $0.baseAddress!, rows: rows, cols: cols, type: type) }
            var dq = [Float](repeating: 0, count: cols)
            var reference = [Double](repeating: 0, count: rows)
            for r in 0..<rows {
                dq.withUnsafeMutableBufferPointer { m.decodeRow(r, into: $0.baseAddress!) }
                reference[r] = zip(dq, x).map { Double($0) * Double($1) }.reduce(0, +)
            }
            let scale = reference.map(abs).max()!
            for p in paths {
                QuantDispatch.path = p
                var y = [Float](repeating: .nan, count: rows)
                x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { m.gemv(xb.baseAddress!, into: $0.baseAddress!) } }
                let err = zip(y, reference).map { abs(Double($0) - $1) }.max()!
                XCTAssertLessThan(err, 1e-5 * scale, "\(type) \(p): max error \(err)")
                // Many rows at once (dequantized panels + sgemm), with an offset output stride.
                let n = 5
                var xs = [Float](repeating: 0, count: n * cols)
                for i in 0..<n { for j in 0..<cols { xs[i * cols + j] = x[j] * Float(i + 1) } }
                var ys = [Float](repeating: 1, count: n * (rows + 3))
                xs.withUnsafeBufferPointer { xb in ys.withUnsafeMutableBufferPointer {
                    m.apply(xb.baseAddress!, rows: n, into: $0.baseAddress!, ldy: rows + 3, accumulate: true) } }
                for i in 0..<n { for r in 0..<rows {
                    XCTAssertEqual(Double(ys[i * (rows + 3) + r]), 1 + Double(i + 1) * reference[r], accuracy: 1e-5 * scale * Double(n) + 1e-6, "\(type) rows")
                } }
            }
        }
    }

    /// The integer kernels (x quantized to int8 per block of 32): equal to the naive sum over the
    /// dequantized weights times the dequantized int8 activations to 1e-5 relative, on every path
    /// and on widths that exercise the 8-block groups and every tail (1, 2, 3, 8 + 2, 8 + 5, 16
    /// blocks); within 2% of the f32 product; NaN in x gives NaN, not a trap.
    func testIntegerKernelsMatchTheNaiveIntegerProduct() throws {
        var rng = RandomGenerator(seed: 12)
        let paths = [QuantDispatch.Path.avx2, .avx512].filter(QuantDispatch.supports)
        let saved = QuantDispatch.path, savedActivations = QuantDispatch.activations
        defer { QuantDispatch.path = saved; QuantDispatch.activations = savedActivations }
        QuantDispatch.activations = .int8
        for cols in [32, 64, 96, 320, 416, 512] {
            let rows = 29, blocks = cols / 32
            let w = (0..<(rows * cols)).map { _ in rng.nextNormal() * 0.1 }, x = (0..<cols).map { _ in rng.nextNormal() }
            var q = [Int8](repeating: 0, count: cols), d = [Float](repeating: 0, count: blocks)
            x.withUnsafeBufferPointer { xb in q.withUnsafeMutableBufferPointer { qb in d.withUnsafeMutableBufferPointer {
                QuantDispatch.quantizeActivations(xb.baseAddress!, blocks: blocks, q: qb.baseAddress!, scales: $0.baseAddress!) } } }
            for j in 0..<cols { XCTAssertLessThanOrEqual(abs(Float(q[j]) * d[j / 32] - x[j]), d[j / 32] / 2 * 1.0001) }
            for type in [QuantType.q8_0, .q4_0, .q4_1] {
                let m = w.withUnsafeBufferPointer { QuantizedMatrix(quantizing: $0.baseAddress!, rows: rows, cols: cols, type: type) }
                var dq = [Float](repeating: 0, count: cols)
                var integer = [Double](repeating: 0, count: rows), exact = [Double](repeating: 0, count: rows)
                for r in 0..<rows {
                    dq.withUnsafeMutableBufferPointer { m.decodeRow(r, into: $0.baseAddress!) }
                    for j in 0..<cols {
                        integer[r] += Double(dq[j]) * Double(d[j / 32]) * Double(q[j])
                        exact[r] += Double(dq[j]) * Double(x[j])
                    }
                }
                let scale = exact.map(abs).max()!
                for p in paths {
                    QuantDispatch.path = p
                    var y = [Float](repeating: .nan, count: rows)
                    x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { m.gemv(xb.baseAddress!, into: $0.baseAddress!) } }
                    let err = zip(y, integer).map { abs(Double($0) - $1) }.max()!
                    XCTAssertLessThan(err, 1e-5 * scale, "\(type) \(p) cols \(cols): max error \(err) against the integer reference")
                    let drift = zip(y, exact).map { abs(Double($0) - $1) }.max()!
                    XCTAssertLessThan(drift, 2e-2 * scale, "\(type) \(p) cols \(cols): \(drift) from the f32 product")
                    var bad = x
                    bad[cols - 1] = .nan
                    bad.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { m.gemv(xb.baseAddress!, into: $0.baseAddress!) } }
                    XCTAssertTrue(y.allSatisfy(\.isNaN), "\(type) \(p): NaN in x must give NaN")
                    // Subnormal activations (1/scale would overflow): no trap, a product of 0.
                    let tiny = [Float](repeating: 1e-39, count: cols)
                    tiny.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { m.gemv(xb.baseAddress!, into: $0.baseAddress!) } }
                    XCTAssertTrue(y.allSatisfy { abs($0) < 1e-30 }, "\(type) \(p): subnormal x")
                }
            }
        }
    }
}
