import Foundation
import XCTest
import TLLMCore

/// A tiny transformer-ish model built from the core ops, for engine-level tests.
struct TinyNet {
    let emb: Tensor, ln: Tensor, wqkv: Tensor, wo: Tensor, w1: Tensor, w2: Tensor
    var all: [Tensor] { [emb, ln, wqkv, wo, w1, w2] }

    init(seed: UInt64, vocab: Int = 11, d: Int = 8) {
        var rng = RandomGenerator(seed: seed)
        emb = Tensor.randn([vocab, d], std: 0.1, rng: &rng, requiresGrad: true)
        ln = Tensor(shape: [d], repeating: 1, requiresGrad: true)
        wqkv = Tensor.randn([3 * d, d], std: 0.2, rng: &rng, requiresGrad: true)
        wo = Tensor.randn([d, d], std: 0.2, rng: &rng, requiresGrad: true)
        w1 = Tensor.randn([2 * d, d], std: 0.2, rng: &rng, requiresGrad: true)
        w2 = Tensor.randn([d, 2 * d], std: 0.2, rng: &rng, requiresGrad: true)
    }

    func loss(_ ids: [Int32], _ targets: [Int32], batch: Int, dropout: inout RandomGenerator) -> Tensor {
        let T = ids.count / batch
        var x = emb.embedding(ids, shape: [batch, T])
        let a = x.layerNorm(gamma: ln, beta: nil).linear(wqkv).attention(heads: 2, mask: .causal).linear(wo)
        x = x + a.dropout(0.1, rng: &dropout)
        x = x + x.linear(w1).gelu().linear(w2)
        return x.linear(emb).crossEntropy(targets: targets)
    }
}

final class EngineTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func batch(_ step: Int) -> ([Int32], [Int32]) {
        var rng = RandomGenerator(seed: 1000 + UInt64(step))
        let ids = (0..<16).map { _ in Int32(rng.nextInt(below: 11)) }
        return (ids, ids.map { ($0 + 1) % 11 })
    }

    func train(seed: UInt64, steps: Int, freezeBelow: Bool = false) -> (TinyNet, [Float], AdamW) {
        let net = TinyNet(seed: seed)
        if freezeBelow { net.emb.requiresGrad = false; net.wqkv.requiresGrad = false; net.ln.requiresGrad = false }
        let opt = AdamW(groups: ParameterGroup.standard(net.all, weightDecay: 0.1), learningRate: 0.01, beta1: 0.9, beta2: 0.95)
        var dropout = RandomGenerator(seed: seed, stream: 9)
        var losses: [Float] = []
        for s in 0..<steps {
            let (ids, t) = batch(s)
            let loss = net.loss(ids, t, batch: 2, dropout: &dropout)
            losses.append(loss.item)
            loss.backward()
            GradientClipping.clip(opt.parameters, maxNorm: 1)
            opt.step()
            opt.zeroGrad()
        }
        return (net, losses, opt)
    }

    func testSameSeedGivesBitIdenticalParameters() {
        let (a, la, _) = train(seed: 42, steps: 12)
        let (b, lb, _) = train(seed: 42, steps: 12)
        XCTAssertEqual(la, lb)
        for (p, q) in zip(a.all, b.all) { XCTAssertEqual(p.values, q.values) }
        XCTAssertLessThan(la.last!, la.first!, "training should reduce the loss")
        let (c, _, _) = train(seed: 43, steps: 12)
        XCTAssertNotEqual(a.w1.values, c.w1.values)
    }

    func testFrozenParametersStayBitIdenticalAndHaveNoState() {
        let fresh = TinyNet(seed: 7)
        let (net, _, opt) = train(seed: 7, steps: 5, freezeBelow: true)
        XCTAssertEqual(net.emb.values, fresh.emb.values)
        XCTAssertEqual(net.wqkv.values, fresh.wqkv.values)
        XCTAssertEqual(net.ln.values, fresh.ln.values)
        XCTAssertNotEqual(net.w1.values, fresh.w1.values)
        XCTAssertNil(opt.state(of: net.emb))
        XCTAssertNil(opt.state(of: net.wqkv))
        XCTAssertNotNil(opt.state(of: net.w1))
        XCTAssertNil(net.emb.gradStorage)
    }

    func testBackwardStopsBelowTheLowestTrainableLayer() {
        var rng = RandomGenerator(seed: 1)
        let w1 = Tensor.randn([4, 4], rng: &rng), w2 = Tensor.randn([4, 4], rng: &rng, requiresGrad: true)
        let x = Tensor.randn([3, 4], rng: &rng)
        let before = Autograd.recordedNodes
        // Frozen first layer: linear and gelu record nothing; only the trainable layer and the loss do.
        let loss = x.linear(w1).gelu().linear(w2).sum()
        XCTAssertEqual(Autograd.recordedNodes - before, 2)
        loss.backward()
        XCTAssertNotNil(w2.grad)
        XCTAssertNil(w1.grad)
        // Inference mode records nothing at all.
        let n0 = Autograd.recordedNodes
        _ = Autograd.withNoGrad { x.linear(w2).gelu().sum() }
        XCTAssertEqual(Autograd.recordedNodes, n0)
    }

    func testWarmTrainingStepAllocatesNoNewBuffers() {
        let net = TinyNet(seed: 3)
        let opt = AdamW(groups: [ParameterGroup(net.all)], learningRate: 0.01)
        var dropout = RandomGenerator(seed: 1, stream: 2)
        let (ids, t) = batch(0)
        func step() {
            let loss = net.loss(ids, t, batch: 2, dropout: &dropout)
            loss.backward()
            opt.step()
            opt.zeroGrad()
        }
        step(); step()
        let before = BufferPool.shared.allocations
        for _ in 0..<3 { step() }
        XCTAssertEqual(BufferPool.shared.allocations, before)
    }

    func testPhiloxKnownAnswers() {
        // Random123's published known-answer vectors for philox4x32-10.
        let z = Philox.block(key: 0, counter: 0, stream: 0)
        XCTAssertEqual([z.0, z.1, z.2, z.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let f = Philox.block(key: .max, counter: .max, stream: .max)
        XCTAssertEqual([f.0, f.1, f.2, f.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        let p = Philox.block(key: 0x299f_31d0_a409_3822, counter: 0x85a3_08d3_243f_6a88, stream: 0x0370_7344_1319_8a2e)
        XCTAssertEqual([p.0, p.1, p.2, p.3], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    func testRandomStreamsAreReproducibleAndWellDistributed() {
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        let x = Tensor.randn([10_001], rng: &a), y = Tensor.randn([10_001], rng: &b)
        XCTAssertEqual(x.values, y.values)
        let m = x.values.map(Double.init).reduce(0, +) / 10_001
        let v = x.values.map { Double($0) * Double($0) }.reduce(0, +) / 10_001 - m * m
        XCTAssertEqual(m, 0, accuracy: 0.05)
        XCTAssertEqual(v, 1, accuracy: 0.05)
        XCTAssertEqual(a.position, b.position)
        var c = RandomGenerator(seed: 9)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[c.nextInt(below: 7)] += 1 }
        for k in counts { XCTAssertEqual(Double(k), 10_000, accuracy: 400) }
    }

    func testSafeTensorsRoundTripAndErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-st-\(getpid())")
        let url = dir.appendingPathComponent("m.safetensors")
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [-1]
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try SafeTensors.write([.init(name: "w", shape: [2, 3], values: pa), .init(name: "b", shape: [1], values: pb)],
                                      metadata: ["format": "pt"], to: url)
            }
        }
        let f = try SafeTensors.read(url)
        XCTAssertEqual(f.tensors["w"]?.shape, [2, 3])
        XCTAssertEqual(f.tensors["w"]?.values, a)
        XCTAssertEqual(f.tensors["b"]?.values, b)
        XCTAssertEqual(f.metadata["format"], "pt")
        // Truncated: the error names the file and a position.
        let data = try Data(contentsOf: url)
        for cut in [4, 20, data.count - 3] {
            XCTAssertThrowsError(try SafeTensors.decode(data.prefix(cut), path: "x.safetensors")) { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix("x.safetensors: byte "), s)
            }
        }
        // Garbage header.
        var bad = data
        bad[9] = 0xFF
        XCTAssertThrowsError(try SafeTensors.decode(bad, path: "y.safetensors"))
        try? FileManager.default.removeItem(at: dir)
    }
}
