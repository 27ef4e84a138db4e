import Foundation
import XCTest
import TLLMCore
import TLLMTestSupport

/// A two-layer network declared the way every tllm model is: names come from the tree.
final class TreeNet: Module, ConfigurableModule, UnaryLayer {
    let configuration: Int
    @ModuleInfo(key: "enc.in") var input: Linear
    @ModuleInfo var norm: LayerNorm?
    @ModuleInfo(key: "h") var layers: [Linear]
    @ParameterInfo var scale: Tensor

    init(configuration width: Int, seed: UInt64) throws {
        configuration = width
        super.init()
        var rng = RandomGenerator(seed: seed)
        input = Linear(3, width, rng: &rng)
        norm = width > 2 ? LayerNorm(width) : nil
        layers = (0..<2).map { _ in Linear(width, width, bias: false, rng: &rng) }
        scale = Tensor(shape: [width], repeating: 1, requiresGrad: true)
    }

    func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        var h = input(x).gelu()
        if let norm { h = norm(h) }
        for l in layers { h = l(h) }
        return h * scale
    }
}

final class ModuleTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func testNamesComeFromTheTreeInDeclarationOrder() throws {
        let net = try TreeNet(configuration: 4, seed: 1)
        XCTAssertEqual(net.namedParameters.map(\.0), ["enc.in.weight", "enc.in.bias", "norm.weight", "norm.bias",
                                                      "h.0.weight", "h.1.weight", "scale"])
        XCTAssertEqual(net.parameterCount, 4 * 3 + 4 + 4 + 4 + 16 + 16 + 4)
        // An absent optional child contributes nothing.
        XCTAssertEqual(try TreeNet(configuration: 2, seed: 1).namedParameters.map(\.0),
                       ["enc.in.weight", "enc.in.bias", "h.0.weight", "h.1.weight", "scale"])
    }

    func testReplicaSharesWeightsButNotGradients() throws {
        let net = try TreeNet(configuration: 4, seed: 1)
        net.layers[0].weight.requiresGrad = false
        let rep = net.replica()
        for (a, b) in zip(net.parameters, rep.parameters) {
            XCTAssertTrue(a.storage === b.storage)
            XCTAssertFalse(a === b)
            XCTAssertEqual(a.requiresGrad, b.requiresGrad)
        }
        let x = GradCheck.random([2, 3], seed: 4)
        rep(x, context: .inference).sum().backward()
        XCTAssertNotNil(rep.input.weight.gradStorage)
        XCTAssertNil(net.input.weight.gradStorage, "the replica's backward wrote into the original's gradient")
        XCTAssertNil(rep.layers[0].weight.gradStorage, "a frozen parameter got a gradient")
        net.input.weight[flat: 0] = 42
        XCTAssertEqual(rep.input.weight[flat: 0], 42)
    }

    func testDeepCopyIsIndependentAndMovingAverageFollowsTheFormula() throws {
        let a = try TreeNet(configuration: 4, seed: 1), b = try TreeNet(configuration: 4, seed: 2)
        let c = a.deepCopy()
        XCTAssertEqual(c.parameters.map(\.values), a.parameters.map(\.values))
        c.input.weight[flat: 0] += 1
        XCTAssertNotEqual(c.input.weight[flat: 0], a.input.weight[flat: 0])
        let before = c.parameters.map(\.values)
        c.updateMovingAverage(toward: b, momentum: 0.9)
        for ((old, new), target) in zip(zip(before, c.parameters.map(\.values)), b.parameters.map(\.values)) {
            for i in old.indices { XCTAssertEqual(new[i], 0.9 * old[i] + 0.1 * target[i], accuracy: 1e-6) }
        }
        c.updateMovingAverage(toward: b, momentum: 0)
        XCTAssertEqual(c.parameters.map(\.values), b.parameters.map(\.values))
    }

    func testFreezeStopsGradientsAndSequentialChains() throws {
        var rng = RandomGenerator(seed: 3)
        let seq = Sequential([Linear(3, 5, rng: &rng), ActivationLayer.relu, Linear(5, 2, rng: &rng)])
        XCTAssertEqual(seq.namedParameters.map(\.0), ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"])
        (seq.layers[0] as! Linear).freeze()
        let x = GradCheck.random([4, 3], seed: 5)
        seq(x, context: .inference).sum().backward()
        XCTAssertNil((seq.layers[0] as! Linear).weight.gradStorage)
        XCTAssertNotNil((seq.layers[2] as! Linear).weight.gradStorage)
    }

    /// An op defined outside the core through the public API, checked by finite differences.
    func testCustomOpGradient() {
        func cube(_ x: Tensor) -> Tensor {
            Tensor.custom([x]) { xs in
                let y = Tensor(uninitialized: xs[0].shape)
                for i in 0..<y.count { y[flat: i] = xs[0][flat: i] * xs[0][flat: i] * xs[0][flat: i] }
                return y
            } backward: { xs, _, dy in
                xs[0].withGradBuffer { g, acc in
                    for i in 0..<xs[0].count { put(g, i, 3 * xs[0][flat: i] * xs[0][flat: i] * dy[i], acc) }
                }
            }
        }
        GradCheck.check([GradCheck.random([3, 4], seed: 8)]) { cube($0[0]).linear($0[0]) }
    }

    /// Grad mode is per thread: one thread records a graph while another runs without gradients.
    func testNoGradOnOneThreadDoesNotStopRecordingOnAnother() {
        let w = GradCheck.random([8, 8], seed: 9)
        w.requiresGrad = true
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 2)
        results.initialize(repeating: false)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            for _ in 0..<200 {
                if k == 0 {
                    let recorded = Autograd.withNoGrad { w.linear(w).requiresGrad }
                    if recorded { results[0] = true }
                } else {
                    let y = w.linear(w)
                    if !y.requiresGrad || y.isLeaf { results[1] = true }
                }
            }
        }
        XCTAssertFalse(results[0], "an op recorded inside withNoGrad")
        XCTAssertFalse(results[1], "another thread's withNoGrad stopped this thread's recording")
        XCTAssertTrue(Autograd.isEnabled)
    }
}
