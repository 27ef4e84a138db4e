import Foundation
import XCTest
import TLLMCore
import TLLMTestSupport

/// Each fused kernel against a naive double-precision reference written here.
final class KernelReferenceTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func r(_ shape: [Int], _ seed: UInt64, scale: Float = 1) -> Tensor { GradCheck.random(shape, seed: seed, scale: scale) }
    func d(_ t: Tensor) -> [Double] { t.values.map(Double.init) }

    func testVectorExpAndTanhAccuracy() {
        var worstExp = 0.0, worstTanh = 0.0
        var x: Float = -87
        while x < 88 {
            let e = Double(VectorMath.exp(x)), ref = Foundation.exp(Double(x))
            worstExp = max(worstExp, abs(e - ref) / ref)
            x += 0.0137
        }
        x = -12
        while x < 12 {
            let t = Double(VectorMath.tanh(VectorMath.V(repeating: x))[0])
            worstTanh = max(worstTanh, abs(t - Foundation.tanh(Double(x))))
            x += 0.00731
        }
        XCTAssertLessThan(worstExp, 5e-7)
        XCTAssertLessThan(worstTanh, 5e-7)
        XCTAssertEqual(VectorMath.exp(-200), 0)
    }

    func testLayerNormAndRMSNormMatchReference() {
        let R = 7, C = 37
        let x = r([R, C], 1, scale: 3), g = r([C], 2), b = r([C], 3)
        let y = x.layerNorm(gamma: g, beta: b, eps: 1e-5)
        let z = x.rmsNorm(gamma: g, eps: 1e-5)
        var refLN = [Double](), refRMS = [Double]()
        let xv = d(x), gv = d(g), bv = d(b)
        for i in 0..<R {
            let row = Array(xv[(i * C)..<((i + 1) * C)])
            let m = row.reduce(0, +) / Double(C)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(C)
            let ms = row.map { $0 * $0 }.reduce(0, +) / Double(C)
            for j in 0..<C {
                refLN.append((row[j] - m) / (v + 1e-5).squareRoot() * gv[j] + bv[j])
                refRMS.append(row[j] / (ms + 1e-5).squareRoot() * gv[j])
            }
        }
        XCTAssertLessThan(GradCheck.maxDiff(y, refLN), 1e-5)
        XCTAssertLessThan(GradCheck.maxDiff(z, refRMS), 1e-5)
    }

    func testActivationsMatchReference() {
        let x = r([1000], 4, scale: 6)
        let xv = d(x)
        let c = (2 / Double.pi).squareRoot()
        XCTAssertLessThan(GradCheck.maxDiff(x.gelu(), xv.map { 0.5 * $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) }), 2e-6)
        XCTAssertLessThan(GradCheck.maxDiff(x.silu(), xv.map { $0 / (1 + Foundation.exp(-$0)) }), 2e-6)
        XCTAssertEqual(GradCheck.maxDiff(x.relu(), xv.map { max(0, $0) }), 0)
        XCTAssertLessThan(GradCheck.maxDiff(x.sigmoid(), xv.map { 1 / (1 + Foundation.exp(-$0)) }), 1e-6)
        XCTAssertLessThan(GradCheck.maxDiff(x.tanh(), xv.map { Foundation.tanh($0) }), 1e-6)
    }

    func testSoftmaxAndCrossEntropyMatchReference() {
        let R = 9, V = 301
        let x = r([R, V], 5, scale: 8)
        let targets: [Int32] = [0, 300, 17, -100, 5, 5, 299, 150, 1]
        let xv = d(x)
        var refSoft = [Double](), total = 0.0, n = 0
        for i in 0..<R {
            let row = Array(xv[(i * V)..<((i + 1) * V)])
            let m = row.max()!
            let s = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            refSoft += row.map { Foundation.exp($0 - m) / s }
            if targets[i] != -100 { total += m + Foundation.log(s) - row[Int(targets[i])]; n += 1 }
        }
        XCTAssertLessThan(GradCheck.maxDiff(x.softmax(), refSoft), 1e-6)
        XCTAssertLessThan(GradCheck.maxDiff(x.logSoftmax(), refSoft.map { Foundation.log($0) }), 1e-4)
        XCTAssertEqual(Double(x.crossEntropy(targets: targets).item), total / Double(n), accuracy: 1e-5)
    }

    func testAttentionMatchesNaiveReference() {
        let qkv = r([3, 11, 3 * 24], 6, scale: 2)
        for mask in [AttentionMask.none, .causal, .keyPadding(lengths: [11, 4, 1])] {
            let y = qkv.attention(heads: 3, mask: mask)
            XCTAssertLessThan(GradCheck.maxDiff(y, Reference.attention(qkv, heads: 3, mask: mask)), 1e-5, "\(mask)")
        }
    }

    /// Long causal sequences take the block path (row blocks of 128 skip the keys above the diagonal).
    func testBlockedCausalAttentionMatchesNaiveReference() {
        let qkv = r([2, 300, 3 * 16], 16, scale: 2)
        let y = qkv.attention(heads: 2, mask: .causal)
        XCTAssertLessThan(GradCheck.maxDiff(y, Reference.attention(qkv, heads: 2, mask: .causal)), 1e-5)
    }

    func testRotaryEmbeddingMatchesReference() {
        let qkv = r([1, 5, 3 * 12], 7)
        let y = qkv.rotaryEmbedding(heads: 2, base: 10_000, offset: 2)
        XCTAssertLessThan(GradCheck.maxDiff(y, Reference.rotary(qkv, heads: 2, offset: 2)), 1e-5)
    }

    /// GGUF's Llama layout rotates adjacent pairs; grouped-query projections rotate H + KV heads.
    func testInterleavedAndGroupedRotaryMatchReference() {
        let qkv = r([2, 6, (4 + 2 * 2) * 8], 17)
        for style in [RotaryStyle.halfSplit, .interleaved] {
            let y = qkv.rotaryEmbedding(heads: 4, kvHeads: 2, base: 100_000, offset: 3, style: style)
            XCTAssertLessThan(GradCheck.maxDiff(y, Reference.rotary(qkv, heads: 4, kvHeads: 2, base: 100_000, offset: 3, style: style)), 1e-5, "\(style)")
        }
        // The two styles really differ (so the test above can tell them apart).
        let a = qkv.rotaryEmbedding(heads: 4, kvHeads: 2, offset: 3), b = qkv.rotaryEmbedding(heads: 4, kvHeads: 2, offset: 3, style: .interleaved)
        XCTAssertGreaterThan(GradCheck.maxDiff(a, Reference.values(b)), 1e-2)
    }

    /// Grouped-query attention: query head h reads key/value head h / (H/KV).
    func testGroupedQueryAttentionMatchesNaiveReference() {
        for (H, KV) in [(4, 2), (6, 1), (3, 3)] {
            let qkv = r([2, 9, (H + 2 * KV) * 8], 18 + UInt64(H), scale: 2)
            for mask in [AttentionMask.causal, .none, .keyPadding(lengths: [9, 4])] {
                let y = qkv.attention(heads: H, kvHeads: KV, mask: mask)
                XCTAssertEqual(y.shape, [2, 9, H * 8])
                XCTAssertLessThan(GradCheck.maxDiff(y, Reference.attention(qkv, heads: H, kvHeads: KV, mask: mask)), 1e-5, "H \(H) KV \(KV) \(mask)")
            }
        }
        // Long causal sequences with groups take the blocked path too.
        let long = r([1, 270, (4 + 2) * 8], 29, scale: 2)
        XCTAssertLessThan(GradCheck.maxDiff(long.attention(heads: 4, kvHeads: 1, mask: .causal),
                                            Reference.attention(long, heads: 4, kvHeads: 1, mask: .causal)), 1e-5)
    }

    func testDropoutStatisticsAndDeterminism() {
        let x = Tensor(shape: [100_000], repeating: 1)
        var rng1 = RandomGenerator(seed: 3), rng2 = RandomGenerator(seed: 3)
        let a = x.dropout(0.25, rng: &rng1), b = x.dropout(0.25, rng: &rng2)
        XCTAssertEqual(a.values, b.values)
        let zeros = a.values.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 100_000, 0.25, accuracy: 0.01)
        XCTAssertEqual(Double(a.values.reduce(0, +)) / 100_000, 1, accuracy: 0.02)
        // A second draw from the same generator gives a different mask.
        let c = x.dropout(0.25, rng: &rng1)
        XCTAssertNotEqual(a.values, c.values)
    }

    func testBatchedMatmulAndTransposeMatchReference() {
        let a = r([2, 3, 4], 8), b = r([2, 4, 5], 9)
        let c = a.matmul(b)
        var ref = [Double]()
        for k in 0..<2 { for i in 0..<3 { for j in 0..<5 {
            var s = 0.0
            for p in 0..<4 { s += Double(a[flat: k * 12 + i * 4 + p]) * Double(b[flat: k * 20 + p * 5 + j]) }
            ref.append(s)
        } } }
        XCTAssertLessThan(GradCheck.maxDiff(c, ref), 1e-5)
        let t = a.transposedLastTwo()
        XCTAssertEqual(t.shape, [2, 4, 3])
        XCTAssertEqual(t[flat: 1 * 12 + 3 * 3 + 2], a[flat: 1 * 12 + 2 * 4 + 3])
    }
}
