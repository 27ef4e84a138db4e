import XCTest
import TLLMCore
import TLLMModels

/// The mechanistic measurements: attention patterns equal what the layer computes, prefix
/// matching on hand-built patterns, the copying score's sign, and the ICL score.
final class HeadAnalysisTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    /// softmax(q·kᵀ/√hd)·v through the pattern, then `c_proj`, equals the layer's own output.
    func testPatternReproducesTheAttentionLayer() throws {
        for (gqa, rope) in [(false, false), (true, true)] {
            var rng = RandomGenerator(seed: 7)
            let d = 16, T = 9, H = 4, KV = gqa ? 2 : 4, hd = 4
            let attn = Attention(d, heads: H, kvHeads: KV, bias: true, rotary: rope ? RotaryEmbedding(base: 10_000) : nil,
                                 projectionStd: 0.3, rng: &rng)
            rng.fillNormal(attn.qkv.weight.data, count: attn.qkv.weight.count, std: 0.5)
            let x = Tensor.randn([T, d], rng: &rng)
            let p = attn.causalPattern(x, length: T)
            let expected = Autograd.withNoGrad { attn(x, batch: 1, length: T, mask: .causal) }
            let qkv = Autograd.withNoGrad { attn.qkv(x) }                                  // v is not rotated
            let width = attn.qkv.outFeatures
            for h in 0..<H { for i in 0..<T {
                var s: Float = 0
                for j in 0..<T { s += p[(h * T + i) * T + j]; if j > i { XCTAssertEqual(p[(h * T + i) * T + j], 0) } }
                XCTAssertEqual(s, 1, accuracy: 1e-5)
            } }
            for i in 0..<T {
                var heads = [Float](repeating: 0, count: H * hd)
                for h in 0..<H { for j in 0...i { for c in 0..<hd {
                    heads[h * hd + c] += p[(h * T + i) * T + j] * qkv.data[j * width + (H + KV + h / (H / KV)) * hd + c]
                } } }
                for o in 0..<d {
                    var y = attn.proj.bias!.data[o]
                    for c in 0..<(H * hd) { y += attn.proj.weight.data[o * H * hd + c] * heads[c] }
                    XCTAssertEqual(y, expected.data[i * d + o], accuracy: 1e-4, "gqa \(gqa) rope \(rope) row \(i)")
                }
            }
        }
    }

    func testPrefixMatchingOnHandBuiltPatterns() {
        // A run of 4 distinct tokens repeated: <s> a b c d a b c d
        let tokens: [Int32] = [0, 1, 2, 3, 4, 1, 2, 3, 4]
        let T = tokens.count
        var induction = [Float](repeating: 0, count: T * T), previous = induction, uniform = induction
        for i in 0..<T {
            // induction: attend to the token after the earlier occurrence (or to <s> when none)
            let j = (0..<i).first { tokens[$0] == tokens[i] }.map { $0 + 1 } ?? 0
            induction[i * T + j] = 1
            previous[i * T + max(0, i - 1)] = 1
            for k in 0...i { uniform[i * T + k] = 1 / Float(i + 1) }
        }
        XCTAssertEqual(HeadAnalysis.prefixMatching(induction, heads: 1, tokens: tokens)[0], 1, accuracy: 1e-6)
        XCTAssertEqual(HeadAnalysis.prefixMatching(previous, heads: 1, tokens: tokens)[0], 0, accuracy: 1e-6)
        // Uniform: positions 5…8 each put 1/(i+1) on the one position after the earlier occurrence.
        let expected: Double = (1.0 / 6 + 1.0 / 7 + 1.0 / 8 + 1.0 / 9) / 4
        XCTAssertEqual(HeadAnalysis.prefixMatching(uniform, heads: 1, tokens: tokens)[0], expected, accuracy: 1e-6)
        // Two heads side by side are scored separately; positions restrict the queries.
        let both = HeadAnalysis.prefixMatching(induction + previous, heads: 2, tokens: tokens, positions: [6])
        XCTAssertEqual(both[0], 1, accuracy: 1e-6); XCTAssertEqual(both[1], 0, accuracy: 1e-6)
    }

    /// Negating `c_proj` negates the OV circuit, hence its eigenvalues and the copying score.
    func testCopyingScoreFlipsSignWithTheOutputProjection() throws {
        var c = ModelConfig(vocabSize: 40, context: 8, layers: 1, dModel: 16, heads: 2)
        c.attentionOnly = true
        let model = try GPTModel(configuration: c, seed: 3)
        let before = (0..<2).map { HeadAnalysis.copyingScore(model, layer: 0, head: $0) }
        let w = model.blocks[0].attn.proj.weight
        for i in 0..<w.count { w.data[i] = -w.data[i] }
        let after = (0..<2).map { HeadAnalysis.copyingScore(model, layer: 0, head: $0) }
        for h in 0..<2 {
            XCTAssertTrue(abs(before[h]) <= 1 && before[h] != 0)
            XCTAssertEqual(after[h], -before[h], accuracy: 1e-4)
        }
    }

    func testEigenvaluesOfKnownMatrices() throws {
        let rotation = try XCTUnwrap(Eigenvalues.general([0, -1, 1, 0], n: 2))
        XCTAssertEqual(rotation.map(\.re), [0, 0])
        XCTAssertEqual(Set(rotation.map(\.im)), [1, -1])
        let triangular = try XCTUnwrap(Eigenvalues.general([2, 5, 7, 0, -3, 1, 0, 0, 0.5], n: 3))
        XCTAssertEqual(triangular.map(\.re).sorted(), [-3, 0.5, 2])
    }

    func testInContextScoreIsLateMinusEarly() {
        let losses: [[Double]] = [[4, 4, 1, 1], [3, 5, 0, 2]]
        XCTAssertEqual(HeadAnalysis.inContextScore(losses: losses, early: [[0, 1], [0, 1]], late: [[2, 3], [2, 3]]), 1 - 4, accuracy: 1e-12)
        let l = (0..<100).map { $0 < 50 ? 5.0 : 2.0 }
        XCTAssertEqual(HeadAnalysis.inContextScore(positionLosses: l), -3, accuracy: 1e-12)
    }
}
