import XCTest
import TLLMCore
import TLLMTestSupport

/// A finite-difference gradient check for every differentiable op.
final class OpGradientTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func r(_ shape: [Int], _ seed: UInt64, scale: Float = 1) -> Tensor { GradCheck.random(shape, seed: seed, scale: scale) }

    // MARK: - Products

    func testMatmulAllTransposes() {
        for ta in [false, true] {
            for tb in [false, true] {
                let a = r(ta ? [4, 3] : [3, 4], 1), b = r(tb ? [5, 4] : [4, 5], 2)
                GradCheck.check([a, b]) { $0[0].matmul($0[1], transposeSelf: ta, transposeOther: tb) }
            }
        }
    }

    func testMatmulLeadingDimensionsFlatten() {
        GradCheck.check([r([2, 3, 4], 3), r([4, 5], 4)]) { $0[0].matmul($0[1]) }
    }

    func testBatchedMatmul() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = r(ta ? [2, 4, 3] : [2, 3, 4], 5), b = r(tb ? [2, 5, 4] : [2, 4, 5], 6)
            GradCheck.check([a, b]) { $0[0].matmul($0[1], transposeSelf: ta, transposeOther: tb) }
        }
    }

    func testLinearWithAndWithoutBias() {
        GradCheck.check([r([2, 3, 4], 7), r([5, 4], 8), r([5], 9)]) { $0[0].linear($0[1], $0[2]) }
        GradCheck.check([r([6, 4], 10), r([3, 4], 11)]) { $0[0].linear($0[1]) }
    }

    // MARK: - Elementwise

    func testAddSubMulWithBroadcasting() {
        GradCheck.check([r([3, 4], 12), r([3, 4], 13)]) { $0[0] + $0[1] }
        GradCheck.check([r([3, 4], 14), r([4], 15)]) { $0[0] + $0[1] }
        GradCheck.check([r([2, 3, 4], 16), r([3, 4], 17)]) { $0[0] - $0[1] }
        GradCheck.check([r([3, 4], 18), r([1], 19)]) { $0[0] - $0[1] }
        GradCheck.check([r([3, 4], 20), r([3, 4], 21)]) { $0[0] * $0[1] }
        GradCheck.check([r([3, 4], 22), r([4], 23)]) { $0[0] * $0[1] }
        GradCheck.check([r([3, 4], 24), r([1], 25)]) { $0[0] * $0[1] }
        GradCheck.check([r([3, 4], 26)]) { $0[0] * 2.5 + 1.5 }
        // The same tensor on both sides.
        GradCheck.check([r([3, 4], 27)]) { $0[0] + $0[0] }
        GradCheck.check([r([3, 4], 28)]) { $0[0] * $0[0] }
    }

    func testActivations() {
        let x = r([4, 9], 30, scale: 3)
        GradCheck.check([x]) { $0[0].gelu() }
        GradCheck.check([x]) { $0[0].silu() }
        GradCheck.check([x]) { $0[0].tanh() }
        GradCheck.check([x]) { $0[0].sigmoid() }
        GradCheck.check([x]) { $0[0].exp() }
        GradCheck.check([x]) { $0[0].squared() }
        // ReLU away from its kink.
        let y = Tensor(shape: [2, 5], values: [-2, -1, -0.5, 0.4, 1, 2, 3, -3, 0.7, -0.9])
        GradCheck.check([y]) { $0[0].relu() }
        let pos = Tensor(shape: [2, 5], values: [0.5, 1, 2, 3, 0.8, 1.5, 2.5, 0.9, 4, 1.1])
        GradCheck.check([pos]) { $0[0].log() }
    }

    // MARK: - Norms, softmax, losses

    func testLayerNormAndRMSNorm() {
        let x = r([5, 7], 31, scale: 2), g = r([7], 32), b = r([7], 33)
        GradCheck.check([x, g, b]) { $0[0].layerNorm(gamma: $0[1], beta: $0[2]) }
        GradCheck.check([r([2, 3, 6], 34), r([6], 35)]) { $0[0].layerNorm(gamma: $0[1], beta: nil) }
        GradCheck.check([x, g]) { $0[0].rmsNorm(gamma: $0[1]) }
    }

    func testSoftmaxAndLogSoftmax() {
        let x = r([4, 6], 36, scale: 3)
        GradCheck.check([x]) { $0[0].softmax() }
        GradCheck.check([x]) { $0[0].logSoftmax() }
    }

    func testFusedCrossEntropyWithIgnoreIndex() {
        let logits = r([6, 5], 37, scale: 2)
        GradCheck.check([logits]) { $0[0].crossEntropy(targets: [0, 4, -100, 2, 1, -100]) }
        GradCheck.check([r([2, 3, 7], 38)]) { $0[0].crossEntropy(targets: [6, 0, 3, 3, 1, 2]) }
    }

    // MARK: - Gathers, shapes, reductions

    func testGatherRowsWithRepeatedIndices() {
        GradCheck.check([r([5, 3], 39)]) { $0[0].gatherRows([4, 0, 4, 2, 4]) }
        GradCheck.check([r([6, 4], 40)]) { $0[0].embedding([1, 2, 1, 5, 0, 1], shape: [2, 3]) }
    }

    func testReshapeTransposeConcatSplit() {
        GradCheck.check([r([2, 6], 41)]) { $0[0].reshaped([3, -1]) }
        GradCheck.check([r([2, 3, 5], 42)]) { $0[0].transposedLastTwo() }
        GradCheck.check([r([2, 3], 43), r([2, 4], 44)]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        GradCheck.check([r([2, 3, 2], 45), r([1, 3, 2], 46)]) { Tensor.concat([$0[0], $0[1]], axis: 0) }
        GradCheck.check([r([3, 7], 47)]) { x in
            let parts = x[0].split([2, 4, 1], axis: 1)
            return parts[0].sum() * parts[1].mean() + parts[2].sum()
        }
        GradCheck.check([r([4, 2, 3], 48)]) { x in
            let p = x[0].split([1, 3], axis: 0)
            return Tensor.concat([p[1], p[0]], axis: 0).gelu()
        }
    }

    func testReductions() {
        let x = r([3, 4, 5], 49)
        GradCheck.check([x]) { $0[0].sum() }
        GradCheck.check([x]) { $0[0].mean() }
        GradCheck.check([x]) { $0[0].sum(axis: 1) }
        GradCheck.check([x]) { $0[0].mean(axis: -1) }
        GradCheck.check([x]) { $0[0].sum(axis: 0) }
        // The last axis (one SIMD row sum per row, here 16 lanes and a tail of 5) against a Double loop.
        let wide = r([3, 21], 55), sums = wide.sum(axis: -1)
        for i in 0..<3 {
            let want = (0..<21).reduce(0.0) { $0 + Double(wide[flat: i * 21 + $1]) }
            XCTAssertEqual(Double(sums[flat: i]), want, accuracy: 1e-5)
        }
        GradCheck.check([wide]) { $0[0].sum(axis: -1) }
    }

    func testL2NormalizeAndCosine() {
        GradCheck.check([r([4, 5], 50)]) { $0[0].l2Normalized() }
        GradCheck.check([r([4, 5], 51), r([4, 5], 52)]) { $0[0].cosineSimilarity($0[1]) }
        GradCheck.check([r([3, 5], 53), r([4, 5], 54)]) { $0[0].cosineSimilarityMatrix($0[1]) }
    }

    func testDropoutGradientUsesTheForwardMask() {
        let x = r([4, 9], 55)
        GradCheck.check([x]) { t in
            var rng = RandomGenerator(seed: 5, stream: 1)
            return t[0].dropout(0.3, rng: &rng)
        }
    }

    // MARK: - Attention

    func testAttentionGradientsAllMasks() {
        let qkv = r([2, 5, 3 * 8], 56)
        GradCheck.check([qkv]) { $0[0].attention(heads: 2, mask: .causal) }
        GradCheck.check([qkv]) { $0[0].attention(heads: 2, mask: .none) }
        GradCheck.check([qkv]) { $0[0].attention(heads: 4, mask: .keyPadding(lengths: [3, 5])) }
    }

    func testBlockedCausalAttentionGradient() {
        // T = 260: two full row blocks of 128 and a short last one.
        GradCheck.check([r([1, 260, 3 * 4], 63)]) { $0[0].attention(heads: 1, mask: .causal) }
    }

    func testRotaryEmbeddingGradient() {
        GradCheck.check([r([2, 4, 3 * 8], 57)]) { $0[0].rotaryEmbedding(heads: 2, offset: 3) }
        GradCheck.check([r([2, 4, (4 + 2) * 4], 64)]) { $0[0].rotaryEmbedding(heads: 4, kvHeads: 1, offset: 1, style: .interleaved) }
    }

    /// Grouped-query attention: the key/value gradients sum over the query heads of a group.
    func testGroupedQueryAttentionGradients() {
        let qkv = r([2, 5, (4 + 2 * 2) * 4], 65)
        GradCheck.check([qkv]) { $0[0].attention(heads: 4, kvHeads: 2, mask: .causal) }
        GradCheck.check([qkv]) { $0[0].attention(heads: 4, kvHeads: 2, mask: .keyPadding(lengths: [2, 5])) }
        GradCheck.check([r([1, 260, (2 + 2) * 4], 66)]) { $0[0].attention(heads: 2, kvHeads: 1, mask: .causal) }
    }

    func testChainedGraphAccumulatesThroughSharedInputs() {
        // A residual block: x + W2·gelu(W1·LN(x)).
        let x = r([3, 6], 58), w1 = r([8, 6], 59), w2 = r([6, 8], 60), g = r([6], 61)
        GradCheck.check([x, w1, w2, g]) { t in
            let h = t[0].layerNorm(gamma: t[3], beta: nil).linear(t[1]).gelu().linear(t[2])
            return (t[0] + h).softmax()
        }
    }
}

final class ResidualBiasGradientTests: XCTestCase {
    func testLinearBiasInsideResidual() {
        let x = GradCheck.random([5, 4], seed: 70), w = GradCheck.random([4, 4], seed: 71), b = GradCheck.random([4], seed: 72)
        GradCheck.check([x, w, b]) { t in (t[0] + t[0].linear(t[1], t[2])).softmax() }
        GradCheck.check([x, w, b]) { t in
            let y = t[0] + t[0].linear(t[1], t[2])
            return (y + y.layerNorm(gamma: t[2], beta: nil).linear(t[1], t[2])).softmax()
        }
    }
}
