import XCTest
import TLLMCore
import TLLMContrastive
import TLLMData
import TLLMTestSupport

/// The contrastive losses against hand-computed values and finite differences, MoCo's key
/// encoder and queue, the augmentations, and a short run that learns.
final class ContrastiveTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func rows(_ t: Tensor) -> [[Double]] {
        let d = t.shape[1]
        return (0..<t.shape[0]).map { i in (0..<d).map { Double(t[flat: i * d + $0]) } }
    }
    func unit(_ v: [Double]) -> [Double] { let n = v.map { $0 * $0 }.reduce(0, +).squareRoot(); return v.map { $0 / n } }
    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }
    func lse(_ xs: [Double]) -> Double { let m = xs.max()!; return m + log(xs.map { exp($0 - m) }.reduce(0, +)) }

    /// 3 samples × 4 features, two views: NT-Xent written out one term at a time.
    func testNTXentByHand() {
        let z1 = Tensor(shape: [3, 4], values: [1, 0, 2, -1, 0.5, 1, 0, 0, -1, 2, 1, 0.5])
        let z2 = Tensor(shape: [3, 4], values: [1, 0.2, 1.5, -1, 0, 1, 0.3, 0, -1, 1.5, 1, 1])
        let tau: Float = 0.5
        let z = (rows(z1) + rows(z2)).map(unit)
        var total = 0.0
        for i in 0..<6 {
            let partner = i < 3 ? i + 3 : i - 3
            let others = (0..<6).filter { $0 != i }.map { dot(z[i], z[$0]) / Double(tau) }
            total += lse(others) - dot(z[i], z[partner]) / Double(tau)
        }
        XCTAssertEqual(Double(ContrastiveLoss.ntXent(z1, z2, temperature: tau).item), total / 6, accuracy: 1e-5)
        // One direction of NT-Xent with the same-view candidates removed is InfoNCE over the other view.
        let logits = Tensor(shape: [3, 3], values: (0..<3).flatMap { i in (0..<3).map { j in Float(dot(z[i], z[3 + j]) / Double(tau)) } })
        var info = 0.0
        for i in 0..<3 { info += lse((0..<3).map { dot(z[i], z[3 + $0]) / Double(tau) }) - dot(z[i], z[3 + i]) / Double(tau) }
        XCTAssertEqual(Double(ContrastiveLoss.infoNCE(logits: logits, positive: [0, 1, 2]).item), info / 3, accuracy: 1e-5)
        GradCheck.check([GradCheck.random([3, 4], seed: 1), GradCheck.random([3, 4], seed: 2)]) {
            ContrastiveLoss.ntXent($0[0], $0[1], temperature: tau).reshaped([1])
        }
    }

    func testMoCoAndNCEByHand() {
        let q = GradCheck.random([3, 4], seed: 3), k = GradCheck.random([3, 4], seed: 4), queue = GradCheck.random([5, 4], seed: 5)
        let tau: Float = 0.2
        let qs = rows(q).map(unit), ks = rows(k).map(unit), qu = rows(queue)
        var total = 0.0
        for i in 0..<3 {
            let logits = [dot(qs[i], ks[i])] + qu.map { dot(qs[i], $0) }
            total += lse(logits.map { $0 / Double(tau) }) - logits[0] / Double(tau)
        }
        XCTAssertEqual(Double(ContrastiveLoss.moco(queries: q, keys: k, queue: queue, temperature: tau).item), total / 3, accuracy: 1e-4)
        GradCheck.check([q]) { ContrastiveLoss.moco(queries: $0[0], keys: k, queue: queue, temperature: tau).reshaped([1]) }
        let data = Tensor(shape: [3], values: [2, -1, 0.5]), noise = Tensor(shape: [3, 2], values: [0, 1, -2, 0.5, 3, -3])
        func sp(_ x: Double) -> Double { log(1 + exp(x)) }
        let want = ([2, -1, 0.5].map { sp(-$0) }.reduce(0, +) + [0, 1, -2, 0.5, 3, -3].map(sp).reduce(0, +)) / 3
        XCTAssertEqual(Double(ContrastiveLoss.nce(dataScores: data, noiseScores: noise).item), want, accuracy: 1e-5)
        GradCheck.check([GradCheck.random([3], seed: 6), GradCheck.random([3, 2], seed: 7)]) {
            ContrastiveLoss.nce(dataScores: $0[0], noiseScores: $0[1]).reshaped([1])
        }
    }

    func testDeepInfoMaxLocalObjectiveByHand() {
        // 2 images × 2 positions: scores[i, j·2 + p].
        let S = Tensor(shape: [2, 4], values: [1, 2, -1, 0, 0.5, -2, 3, 1])
        func sp(_ x: Double) -> Double { log(1 + exp(x)) }
        let pos = (sp(-1) + sp(-2) + sp(-3) + sp(-1)) / 4, neg = (sp(-1) + sp(0) + sp(0.5) + sp(-2)) / 4
        XCTAssertEqual(Double(ContrastiveLoss.jsdLocal(scores: S, positionsPerImage: 2).item), pos + neg, accuracy: 1e-5)
        GradCheck.check([GradCheck.random([3, 6], seed: 12)]) { ContrastiveLoss.jsdLocal(scores: $0[0], positionsPerImage: 2).reshaped([1]) }
    }

    func testCPCByHand() {
        // 2 contexts (d 2), futures (e 2), W = [[1, 0], [0, 2]]: logits (W c)·zᵀ.
        let c = Tensor(shape: [2, 2], values: [1, 0, 0, 1]), z = Tensor(shape: [2, 2], values: [1, 1, -1, 2])
        let W = Linear(weight: Tensor(shape: [2, 2], values: [1, 0, 0, 2]), bias: nil)
        // W c_0 = (1, 0): logits (1, −1); W c_1 = (0, 2): logits (2, 4).
        let want = ((log(exp(1.0) + exp(-1.0)) - 1) + (log(exp(2.0) + exp(4.0)) - 4)) / 2
        XCTAssertEqual(Double(ContrastiveLoss.cpc(contexts: c, futures: z, predictor: W).item), want, accuracy: 1e-5)
        let w = GradCheck.random([3, 4], seed: 20)
        GradCheck.check([GradCheck.random([5, 4], seed: 21), GradCheck.random([5, 3], seed: 22), w]) {
            ContrastiveLoss.cpc(contexts: $0[0], futures: $0[1], predictor: Linear(weight: $0[2])).reshaped([1])
        }
    }

    func testQueueIsFIFOAndOverwritesTheOldest() {
        var rng = RandomGenerator(seed: 1)
        let queue = KeyQueue(capacity: 4, dimension: 2, rng: &rng)
        queue.enqueue(Tensor(shape: [3, 2], values: [1, 0, 0, 1, -1, 0]))
        XCTAssertEqual(queue.head, 3)
        queue.enqueue(Tensor(shape: [2, 2], values: [0, -2, 3, 4]))        // normalised on the way in
        XCTAssertEqual(queue.head, 1)
        XCTAssertEqual(queue.keys.values, [0.6, 0.8, 0, 1, -1, 0, 0, -1], "row 0 (the oldest) was overwritten by the newest key")
    }

    func testMoCoKeyEncoderIsTheEMAAndGetsNoGradient() throws {
        var config = ContrastiveConfig(method: .moco)
        config.encoder = EncoderConfig(kind: .mlp); config.encoder.base = 8; config.encoder.projection = 4
        config.epochs = 1; config.batch = 16; config.queue = 32; config.momentum = 0.9
        let images = GradCheck.random([16, 1, 8, 8], seed: 8)
        let initial = ContrastiveTrainer(config: config).encoder.namedParameters.map { $0.1.values }
        let trainer = ContrastiveTrainer(config: config)
        _ = try trainer.fit(images)                                          // exactly one step
        let key = try XCTUnwrap(trainer.keyEncoder)
        for ((name, k), (q, k0)) in zip(key.namedParameters, zip(trainer.encoder.namedParameters.map(\.1), initial)) {
            XCTAssertNil(k.grad, "\(name): no gradient flows into the key encoder")
            if name.contains("running") { continue }                        // statistics also move with the key encoder's own batches
            for i in 0..<k.count {
                XCTAssertEqual(k[flat: i], 0.9 * k0[i] + 0.1 * q[flat: i], accuracy: 1e-6, name)
            }
        }
        XCTAssertEqual(trainer.queue?.head, 16, "the batch's keys were enqueued after the step")
    }

    func testAugmentationsAreSeededAndNoneIsIdentity() {
        let x = GradCheck.random([4, 1, 8, 8], seed: 9)
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5), c = RandomGenerator(seed: 6)
        let aug = ImageAugmentation()
        XCTAssertEqual(aug.apply(x, rng: &a).values, aug.apply(x, rng: &b).values)
        XCTAssertNotEqual(aug.apply(x, rng: &a).values, aug.apply(x, rng: &c).values)
        var r = RandomGenerator(seed: 1)
        XCTAssertEqual(ImageAugmentation.none.apply(x, rng: &r).values, x.values)
        // A pure shift moves the image by whole pixels.
        var shift = ImageAugmentation.none; shift.shift = 1
        let s = shift.apply(x, rng: &r)
        let moved = (-1...1).flatMap { dy in (-1...1).map { dx in (dy, dx) } }.contains { dy, dx in
            (2..<6).allSatisfy { y in (2..<6).allSatisfy { xx in s[flat: y * 8 + xx] == x[flat: (y - dy) * 8 + xx - dx] } }
        }
        XCTAssertTrue(moved)
    }

    func testSimCLRAndDIMLearnOnDigits() throws {
        let digits = try LabeledVectors.digits()
        let images = Tensor(shape: [256, 1, 8, 8], values: Array(digits.values.prefix(256 * 64)))
        for method in [ContrastiveMethod.simclr, .dim] {
            var config = ContrastiveConfig(method: method)
            config.encoder.base = 8; config.epochs = 20; config.batch = 64
            let records = try ContrastiveTrainer(config: config).fit(images)
            XCTAssertLessThan(records.last!.loss, records.first!.loss - 0.1, "\(method): \(records.map(\.loss))")
        }
    }
}

/// The MI bounds on hand-made score matrices, and MINE against the truth.
final class MutualInformationTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func testBoundsByHand() {
        let S = Tensor(shape: [2, 2], values: [2, 0, -1, 1])
        // DV: mean diag − log mean exp(off) = 1.5 − log((e⁰ + e⁻¹)/2)
        XCTAssertEqual(Double(MIEstimator.mine.bound(S).item), 1.5 - log((1 + exp(-1.0)) / 2), accuracy: 1e-5)
        XCTAssertEqual(Double(MIEstimator.nwj.bound(S).item), 1.5 + 1 - (1 + exp(-1.0)) / 2, accuracy: 1e-5)
        let nce = ((2 - log(exp(2.0) + 1)) + (1 - log(exp(-1.0) + exp(1.0)))) / 2 + log(2.0)
        XCTAssertEqual(Double(MIEstimator.infonce.bound(S).item), nce, accuracy: 1e-5)
        for e in MIEstimator.allCases {
            GradCheck.check([GradCheck.random([3, 3], seed: 3)]) { e.bound($0[0]) }
        }
    }

    func testMINEFindsTheMutualInformationOfCorrelatedGaussians() {
        let data = CorrelatedGaussians(dimension: 1, rho: 0.8)                   // 2-D joint; true MI 0.511 nats
        let estimate = MICritic(dimension: 1, hidden: 32, seed: 1).fit(data, estimator: .mine, steps: 600, batch: 64, learningRate: 3e-3, evalBatches: 16)
        XCTAssertEqual(estimate, data.trueMI, accuracy: 0.1 * data.trueMI, "MINE \(estimate) vs true \(data.trueMI)")
    }
}
