import XCTest
import TLLMCore
import TLLMTestSupport

/// conv2d, pooling and batch norm against naive loops, and every new op's gradient by finite
/// differences.
final class ConvolutionTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    /// The definition, one multiply-add at a time.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor, stride s: Int, padding p: Int) -> [Double] {
        let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), O = w.shape[0], k = w.shape[2]
        let OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1
        var out = [Double](repeating: 0, count: N * O * OH * OW)
        for n in 0..<N { for o in 0..<O { for oy in 0..<OH { for ox in 0..<OW {
            var acc = Double(b[flat: o])
            for c in 0..<C { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                guard iy >= 0, iy < H, ix >= 0, ix < W else { continue }
                acc += Double(x[flat: ((n * C + c) * H + iy) * W + ix]) * Double(w[flat: ((o * C + c) * k + ky) * k + kx])
            } } }
            out[((n * O + o) * OH + oy) * OW + ox] = acc
        } } } }
        return out
    }

    func testConv2dMatchesTheDefinition() {
        for (s, p, k) in [(1, 0, 3), (1, 1, 3), (2, 1, 3), (2, 0, 2), (1, 2, 5)] {
            let x = GradCheck.random([3, 2, 7, 6], seed: 1), w = GradCheck.random([4, 2, k, k], seed: 2), b = GradCheck.random([4], seed: 3)
            let y = x.conv2d(w, b, stride: s, padding: p)
            XCTAssertEqual(y.shape, [3, 4, (7 + 2 * p - k) / s + 1, (6 + 2 * p - k) / s + 1])
            XCTAssertLessThan(GradCheck.maxDiff(y, naiveConv(x, w, b, stride: s, padding: p)), 1e-4, "stride \(s) padding \(p) kernel \(k)")
        }
    }

    /// Small planes under a same-size stride-1 convolution take whole-plane shifted loads
    /// (8×8 and 4×4 with k = 3, 8×2 with k = 5): the definition, and the gradients.
    func testSmallPlaneConvolutionMatchesTheDefinition() {
        for (h, w, k) in [(8, 8, 3), (4, 4, 3), (8, 2, 5)] {
            let p = (k - 1) / 2
            let x = GradCheck.random([4, 3, h, w], seed: 10), wt = GradCheck.random([2, 3, k, k], seed: 11), b = GradCheck.random([2], seed: 12)
            let y = x.conv2d(wt, b, stride: 1, padding: p)
            XCTAssertEqual(y.shape, [4, 2, h, w])
            XCTAssertLessThan(GradCheck.maxDiff(y, naiveConv(x, wt, b, stride: 1, padding: p)), 1e-4, "\(h)×\(w), kernel \(k)")
        }
        let x = GradCheck.random([3, 2, 4, 4], seed: 13), wt = GradCheck.random([2, 2, 3, 3], seed: 14), b = GradCheck.random([2], seed: 15)
        GradCheck.check([x, wt, b]) { $0[0].conv2d($0[1], $0[2], stride: 1, padding: 1) }
    }

    func testConv2dGradients() {
        for (s, p) in [(1, 1), (2, 0), (2, 1), (1, 2)] {
            let x = GradCheck.random([2, 2, 5, 5], seed: 4), w = GradCheck.random([3, 2, 3, 3], seed: 5), b = GradCheck.random([3], seed: 6)
            GradCheck.check([x, w, b]) { $0[0].conv2d($0[1], $0[2], stride: s, padding: p) }
        }
    }

    /// Images in im2col chunks (one image, or two, at a time) give the product and the gradients
    /// of the whole batch at once, and the finite-difference check holds with chunking on.
    func testChunkedConvolutionEqualsTheWholeBatch() {
        let saved = Im2Col.chunkFloats
        defer { Im2Col.chunkFloats = saved }
        func run(_ chunkFloats: Int) -> ([Float], [Float], [Float]) {
            Im2Col.chunkFloats = chunkFloats
            let x = GradCheck.random([5, 2, 6, 5], seed: 8), w = GradCheck.random([3, 2, 3, 3], seed: 9)
            x.requiresGrad = true; w.requiresGrad = true
            let y = x.conv2d(w, stride: 1, padding: 1)
            (y * y).sum().backward()
            return (y.values, x.grad!.values, w.grad!.values)
        }
        let whole = run(1 << 20)
        for floats in [1, 2 * 18 * 30] {                  // 1 image per chunk; 2 images (patch 18 × 30 positions)
            let chunked = run(floats)
            for (a, b) in zip([whole.0, whole.1, whole.2], [chunked.0, chunked.1, chunked.2]) {
                XCTAssertEqual(a.count, b.count)
                for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(u)), "chunk of \(floats) floats") }
            }
        }
        Im2Col.chunkFloats = 1
        let x = GradCheck.random([3, 2, 5, 5], seed: 4), w = GradCheck.random([3, 2, 3, 3], seed: 5), b = GradCheck.random([3], seed: 6)
        GradCheck.check([x, w, b]) { $0[0].conv2d($0[1], $0[2], stride: 2, padding: 1) }
    }

    func testPoolingMatchesTheDefinitionAndDifferentiates() {
        let x = GradCheck.random([2, 3, 4, 6], seed: 7)
        let m = x.maxPool2d(2), a = x.avgPool2d(2), g = x.globalAvgPool()
        XCTAssertEqual(m.shape, [2, 3, 2, 3]); XCTAssertEqual(g.shape, [2, 3])
        var maxRef: [Double] = [], avgRef: [Double] = [], globalRef: [Double] = []
        for plane in 0..<6 {
            var total = 0.0
            for i in 0..<24 { total += Double(x[flat: plane * 24 + i]) }
            globalRef.append(total / 24)
            for oy in 0..<2 { for ox in 0..<3 {
                let v = [(0, 0), (0, 1), (1, 0), (1, 1)].map { Double(x[flat: plane * 24 + (2 * oy + $0.0) * 6 + 2 * ox + $0.1]) }
                maxRef.append(v.max()!); avgRef.append(v.reduce(0, +) / 4)
            } }
        }
        XCTAssertLessThan(GradCheck.maxDiff(m, maxRef), 1e-6)
        XCTAssertLessThan(GradCheck.maxDiff(a, avgRef), 1e-6)
        XCTAssertLessThan(GradCheck.maxDiff(g, globalRef), 1e-6)
        GradCheck.check([x], h: 1e-3) { $0[0].maxPool2d(2) }
        GradCheck.check([x]) { $0[0].avgPool2d(2, stride: 1) }
        GradCheck.check([x]) { $0[0].globalAvgPool() }
    }

    func testBatchNormStatisticsAndGradients() {
        let x = GradCheck.random([4, 3, 2, 2], seed: 8, scale: 2)
        let gamma = GradCheck.random([3], seed: 9), beta = GradCheck.random([3], seed: 10)
        let rm = Tensor(zeros: [3]), rv = Tensor(shape: [3], repeating: 1)
        let y = x.batchNorm(gamma: gamma, beta: beta, runningMean: rm, runningVar: rv, training: true, momentum: 0.1)
        for c in 0..<3 {
            var vals: [Double] = []
            for n in 0..<4 { for i in 0..<4 { vals.append(Double(x[flat: (n * 3 + c) * 4 + i])) } }
            let mean = vals.reduce(0, +) / 16
            let biased = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 16
            for n in 0..<4 { for i in 0..<4 {
                let want = (vals[n * 4 + i] - mean) / (biased + 1e-5).squareRoot() * Double(gamma[flat: c]) + Double(beta[flat: c])
                XCTAssertEqual(Double(y[flat: (n * 3 + c) * 4 + i]), want, accuracy: 1e-4)
            } }
            XCTAssertEqual(Double(rm[flat: c]), 0.1 * mean, accuracy: 1e-5)
            XCTAssertEqual(Double(rv[flat: c]), 0.9 + 0.1 * biased * 16 / 15, accuracy: 1e-4, "running variance is unbiased")
        }
        // Evaluation uses the running statistics.
        let e = x.batchNorm(gamma: gamma, beta: beta, runningMean: rm, runningVar: rv, training: false)
        XCTAssertEqual(Double(e[flat: 0]), Double((x[flat: 0] - rm[flat: 0]) / (rv[flat: 0] + 1e-5).squareRoot() * gamma[flat: 0] + beta[flat: 0]), accuracy: 1e-5)
        for training in [true, false] {
            GradCheck.check([x, gamma, beta]) {
                $0[0].batchNorm(gamma: $0[1], beta: $0[2], runningMean: Tensor(zeros: [3]), runningVar: Tensor(shape: [3], repeating: 1.5), training: training)
            }
        }
        let flat = GradCheck.random([5, 3], seed: 11)
        GradCheck.check([flat, gamma, beta]) {
            $0[0].batchNorm(gamma: $0[1], beta: $0[2], runningMean: Tensor(zeros: [3]), runningVar: Tensor(shape: [3], repeating: 1), training: true)
        }
    }

    /// The fused normalization + ReLU (what ``Sequential`` runs for BatchNorm then ReLU) gives the
    /// numbers and gradients of the two ops, in training and evaluation; the fused gradient also
    /// passes the finite-difference check.
    func testBatchNormThenReLUEqualsTheTwoOps() {
        for training in [true, false] {
            func run(fused: Bool) -> [[Float]] {
                let x = GradCheck.random([5, 3, 4, 4], seed: 21, scale: 2)
                let gamma = GradCheck.random([3], seed: 22), beta = GradCheck.random([3], seed: 23)
                for t in [x, gamma, beta] { t.requiresGrad = true }
                let stats = { (Tensor(shape: [3], values: [0.1, -0.2, 0.3]), Tensor(shape: [3], values: [1.5, 0.5, 2])) }()
                let bn = { x.batchNorm(gamma: gamma, beta: beta, runningMean: stats.0, runningVar: stats.1, training: training, thenReLU: $0) }
                let y = fused ? bn(true) : bn(false).relu()
                (y * GradCheck.random(y.shape, seed: 24)).sum().backward()
                return [y.values, x.grad!.values, gamma.grad!.values, beta.grad!.values, stats.0.values, stats.1.values]
            }
            let (a, b) = (run(fused: true), run(fused: false))
            XCTAssertGreaterThan(a[0].filter { $0 == 0 }.count, 10, "some outputs are clipped")
            for (u, v) in zip(a, b) { for (p, q) in zip(u, v) { XCTAssertEqual(p, q, accuracy: 1e-5 * max(1, abs(q)), "training \(training)") } }
        }
        let x = GradCheck.random([4, 2, 2, 2], seed: 25, scale: 2), gamma = GradCheck.random([2], seed: 26), beta = GradCheck.random([2], seed: 27)
        GradCheck.check([x, gamma, beta], h: 1e-3) {
            $0[0].batchNorm(gamma: $0[1], beta: $0[2], runningMean: Tensor(zeros: [2]), runningVar: Tensor(shape: [2], repeating: 1), training: true, thenReLU: true)
        }
        // Sequential fuses BatchNorm + ReLU and keeps the layer names of the unfused tree.
        var rng = RandomGenerator(seed: 3)
        let net = Sequential([Conv2d(2, 3, kernel: 3, padding: 1, rng: &rng), BatchNorm(3), ActivationLayer.relu])
        let input = GradCheck.random([3, 2, 4, 4], seed: 28)
        let layers = net.layers
        for context in [ForwardContext.inference, .training(rng: nil)] {
            let manual = layers[2](layers[1](layers[0](input, context: context), context: context), context: context)
            XCTAssertEqual(net(input, context: context).values, manual.values, "training \(context.training)")
        }
    }

    /// 2×2 max pooling with stride 2 on rows of a multiple of 8 (the SIMD path) against the
    /// definition, with ties (the first maximum in row-major order takes the gradient).
    func testTwoByTwoMaxPoolingMatchesTheDefinition() {
        let x = GradCheck.random([2, 3, 6, 16], seed: 29)
        for i in stride(from: 0, to: x.count, by: 7) { x.data[i + 1] = x.data[i] }       // ties inside some windows
        let y = x.maxPool2d(2)
        XCTAssertEqual(y.shape, [2, 3, 3, 8])
        let dy = GradCheck.random(y.shape, seed: 30)
        x.requiresGrad = true
        (x.maxPool2d(2) * dy).sum().backward()
        var want = [Double](), wantGrad = [Float](repeating: 0, count: x.count)
        for plane in 0..<6 { for oy in 0..<3 { for ox in 0..<8 {
            var best = -Float.infinity, at = 0
            for (ky, kx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let i = plane * 96 + (2 * oy + ky) * 16 + 2 * ox + kx
                if x.data[i] > best { best = x.data[i]; at = i }
            }
            want.append(Double(best))
            wantGrad[at] += dy.data[(plane * 3 + oy) * 8 + ox]
        } } }
        XCTAssertEqual(GradCheck.maxDiff(y, want), 0)
        XCTAssertEqual(x.grad!.values, wantGrad)
        GradCheck.check([GradCheck.random([1, 2, 4, 8], seed: 31)], h: 1e-3) { $0[0].maxPool2d(2) }
    }

    /// Convolution splits the batch into fixed spans whatever the thread count, so one thread and
    /// two give the same bits, forward and backward.
    func testConvolutionGivesTheSameBitsForAnyThreadCount() {
        let saved = Threading.count
        defer { Threading.set(saved) }
        func run(threads: Int) -> [[Float]] {
            Threading.set(threads)
            let x = GradCheck.random([20, 3, 8, 8], seed: 32), w = GradCheck.random([4, 3, 3, 3], seed: 33), b = GradCheck.random([4], seed: 34)
            for t in [x, w, b] { t.requiresGrad = true }
            let y = x.conv2d(w, b, stride: 1, padding: 1)
            (y * y).sum().backward()
            return [y.values, x.grad!.values, w.grad!.values, b.grad!.values]
        }
        XCTAssertEqual(run(threads: 1), run(threads: 2))
        XCTAssertEqual(run(threads: 1), run(threads: 3))
    }

    func testLogSumExpRowMaxSoftplus() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, -1, 0, 5])
        let l = x.logSumExp()
        XCTAssertEqual(Double(l[flat: 0]), log(exp(1.0) + exp(2.0) + exp(3.0)), accuracy: 1e-5)
        XCTAssertEqual(Double(l[flat: 1]), log(exp(-1.0) + 1 + exp(5.0)), accuracy: 1e-5)
        XCTAssertEqual(x.rowMax().values, [3, 5])
        let big = Tensor(shape: [3], values: [-100, 0, 100])
        for (got, want) in zip(big.softplus().values.map(Double.init), [exp(-100.0), log(2.0), 100]) { XCTAssertEqual(got, want, accuracy: 1e-5) }
        let r = GradCheck.random([3, 5], seed: 12)
        GradCheck.check([r]) { $0[0].logSumExp() }
        GradCheck.check([r], h: 1e-3) { $0[0].rowMax() }
        GradCheck.check([r]) { $0[0].softplus() }
    }

    func testLayersSaveTheirBuffersButTrainOnlyParameters() throws {
        var rng = RandomGenerator(seed: 1)
        let net = Sequential([Conv2d(1, 4, kernel: 3, padding: 1, rng: &rng), BatchNorm(4), ActivationLayer.relu, Pool2d(.global)])
        let names = net.namedParameters.map(\.0)
        XCTAssertTrue(names.contains("layers.1.running_mean") && names.contains("layers.1.running_var"), "\(names)")
        let x = GradCheck.random([6, 1, 8, 8], seed: 13)
        let y = net(x, context: .training(rng: nil))
        XCTAssertEqual(y.shape, [6, 4])
        y.sum().backward()
        for (n, t) in net.namedParameters { XCTAssertEqual(t.grad == nil, n.contains("running"), n) }
    }
}
