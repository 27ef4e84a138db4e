import Foundation
import XCTest
import TLLMCore

final class OptimizerTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    /// Two AdamW steps against values computed by hand from the update rule.
    func testAdamWMatchesHandComputedSteps() {
        let p = Tensor(shape: [2], values: [1.0, -2.0], requiresGrad: true)
        let opt = AdamW(groups: [ParameterGroup([p], weightDecay: 0.1)], learningRate: 0.1,
                        beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        // Step 1 with g = [0.5, -1]: m = 0.1g, v = 0.001g², m̂ = g, v̂ = g² → update = lr·sign(g).
        (p * Tensor(shape: [2], values: [0.5, -1])).sum().backward()
        opt.step()
        // p ← p(1 − lr·wd) − lr·ĝ/(|ĝ| + ε)
        XCTAssertEqual(p[flat: 0], 1.0 * (1 - 0.01) - 0.1 * 0.5 / (0.5 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(p[flat: 1], -2.0 * (1 - 0.01) + 0.1, accuracy: 1e-6)
        // Step 2 with g = [0.5, -1] again.
        opt.zeroGrad()
        (p * Tensor(shape: [2], values: [0.5, -1])).sum().backward()
        let before = p.values
        opt.step()
        for (i, g) in [Float(0.5), -1].enumerated() {
            let m = 0.9 * 0.1 * g + 0.1 * g, v = 0.999 * 0.001 * g * g + 0.001 * g * g
            let mhat = m / (1 - 0.81), vhat = v / (1 - 0.998001)
            let expected = before[i] * (1 - 0.01) - 0.1 * mhat / (vhat.squareRoot() + 1e-8)
            XCTAssertEqual(p[flat: i], expected, accuracy: 1e-6)
        }
    }

    func testParameterGroupsExcludeVectorsFromDecay() {
        let w = Tensor(shape: [2, 2], values: [1, 1, 1, 1], requiresGrad: true)
        let b = Tensor(shape: [2], values: [1, 1], requiresGrad: true)
        let groups = ParameterGroup.standard([w, b], weightDecay: 0.5)
        let opt = AdamW(groups: groups, learningRate: 0.1)
        // Zero gradients: only decay moves the parameters.
        (w * 0).sum().backward(); (b * 0).sum().backward()
        opt.step()
        XCTAssertEqual(w[flat: 0], 0.95, accuracy: 1e-6)
        XCTAssertEqual(b[flat: 0], 1.0, accuracy: 1e-6)
    }

    func testSGDMomentum() {
        let p = Tensor(shape: [1], values: [1], requiresGrad: true)
        let opt = SGD(groups: [ParameterGroup([p])], learningRate: 0.1, momentum: 0.9)
        for _ in 0..<2 {
            opt.zeroGrad()
            (p * 2).sum().backward()   // g = 2
            opt.step()
        }
        // b1 = 2, p = 1 − 0.2 = 0.8; b2 = 0.9·2 + 2 = 3.8, p = 0.8 − 0.38 = 0.42
        XCTAssertEqual(p[flat: 0], 0.42, accuracy: 1e-6)
    }

    func testGlobalNormClipping() {
        let a = Tensor(shape: [2], values: [0, 0], requiresGrad: true)
        let b = Tensor(shape: [1], values: [0], requiresGrad: true)
        (a * Tensor(shape: [2], values: [3, 0])).sum().backward()
        (b * Tensor(shape: [1], values: [4])).sum().backward()
        let norm = GradientClipping.clip([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad![flat: 0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.grad![flat: 0], 0.8, accuracy: 1e-5)
        XCTAssertEqual(GradientClipping.globalNorm([a, b]), 1, accuracy: 1e-5)
        // Below the threshold nothing changes.
        XCTAssertEqual(GradientClipping.clip([a, b], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(a.grad![flat: 0], 0.6, accuracy: 1e-5)
    }

    func testSchedules() {
        let s = WarmupCosineSchedule(peak: 1, minimum: 0.1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.learningRate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(at: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(at: 60), 0.55, accuracy: 1e-6)   // halfway: (1 + 0.1)/2
        XCTAssertEqual(s.learningRate(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertGreaterThan(s.learningRate(at: 30), s.learningRate(at: 31))
        let l = LinearSchedule(peak: 2, minimum: 0, warmupSteps: 0, totalSteps: 4)
        XCTAssertEqual([0, 1, 2, 3, 4].map { l.learningRate(at: $0) }, [2, 1.5, 1, 0.5, 0])
        let c = ConstantSchedule(0.3, warmupSteps: 3)
        XCTAssertEqual(c.learningRate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(at: 50), 0.3)
    }

    func testGradientAccumulationEqualsFullBatch() {
        var rng = RandomGenerator(seed: 11)
        let w = Tensor.randn([4, 3], std: 0.5, rng: &rng, requiresGrad: true)
        let x = Tensor.randn([6, 3], rng: &rng)
        let targets: [Int32] = [0, 1, 2, 3, 1, 0]
        x.linear(w).crossEntropy(targets: targets).backward()
        let full = w.grad!.values
        w.zeroGrad()
        let halves = x.split([3, 3], axis: 0).map { $0.detached() }
        for (k, h) in halves.enumerated() {
            h.linear(w).crossEntropy(targets: Array(targets[(3 * k)..<(3 * k + 3)])).backward(seed: 0.5)
        }
        for (a, b) in zip(full, w.grad!.values) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}
