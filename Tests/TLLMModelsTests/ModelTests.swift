import Foundation
import XCTest
import TLLMCore
import TLLMModels
import TLLMTokenizer

final class ModelTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func tiny(_ f: (inout ModelConfig) -> Void = { _ in }) -> ModelConfig {
        var c = ModelConfig(vocabSize: 37, context: 12, layers: 2, dModel: 16, heads: 2)
        f(&c)
        c.mlpHidden = c.activation == .gelu ? 4 * c.dModel : ModelConfig.swigluHidden(c.dModel)
        return c
    }

    static let variants: [(String, (inout ModelConfig) -> Void)] = [
        ("gpt2", { _ in }),
        ("llama", { $0.norm = .rmsnorm; $0.activation = .swiglu; $0.positions = .rope; $0.bias = false }),
        ("rope-gelu", { $0.positions = .rope }),
        ("llama-gqa", { $0.norm = .rmsnorm; $0.activation = .swiglu; $0.positions = .rope; $0.bias = false
                        $0.heads = 4; $0.kvHeads = 2; $0.ropeStyle = .interleaved; $0.tiedEmbeddings = false }),
        ("attention-only", { $0.attentionOnly = true }),
    ]

    // MARK: - Sizing

    func testSizingHitsTheBudgetWithTheDocumentedFamily() throws {
        for target in [1_000_000, 3_000_000, 10_000_000, 30_000_000] {
            let c = try ModelSizing.config(parameters: target, vocabSize: 8192, context: 256)
            XCTAssertEqual(Double(c.parameters), Double(target), accuracy: 0.1 * Double(target), "\(target)")
            XCTAssertEqual(c.dModel % 64, 0)
            XCTAssertEqual(c.headDim, 64)
        }
        let ten = try ModelSizing.config(parameters: 10_000_000, vocabSize: 8192, context: 256)
        XCTAssertEqual([ten.dModel, ten.layers, ten.heads], [320, 6, 5])
        // 500K cannot be reached with an 8192-token vocabulary (the embedding alone is 524K): the error says so.
        XCTAssertThrowsError(try ModelSizing.config(parameters: 500_000, vocabSize: 8192)) { e in
            XCTAssertTrue("\(e)".contains("closest"), "\(e)")
        }
        let small = try ModelSizing.config(parameters: 500_000, vocabSize: 2048, context: 256)
        XCTAssertEqual(Double(small.parameters), 500_000, accuracy: 50_000)
        let ne = try ModelSizing.config(parameters: 300_000, counting: .nonEmbedding, vocabSize: 8192)
        XCTAssertEqual(Double(ne.nonEmbeddingParameters), 300_000, accuracy: 30_000)
    }

    func testParameterCountsMatchTheTensors() throws {
        for (name, f) in Self.variants {
            let c = tiny(f)
            let m = try GPTModel(config: c, seed: 1)
            let n = m.namedParameters.reduce(0) { $0 + $1.1.count }
            XCTAssertEqual(n, c.parameters, name)
            XCTAssertEqual(c.nonEmbeddingParameters, n - c.vocabSize * c.dModel - (c.positions == .learned ? c.context * c.dModel : 0), name)
            XCTAssertEqual(Set(m.namedParameters.map(\.0)).count, m.namedParameters.count, "unique names")
        }
    }

    func testGPT2InitializationStatistics() throws {
        var c = ModelConfig(vocabSize: 512, context: 64, layers: 4, dModel: 128, heads: 2)
        c.mlpHidden = 512
        let m = try GPTModel(config: c, seed: 3)
        func std(_ t: Tensor) -> Double {
            let v = t.values.map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        XCTAssertEqual(std(m.tokenEmbedding.weight), 0.02, accuracy: 0.001)
        XCTAssertEqual(std(m.blocks[0].attn.qkv.weight), 0.02, accuracy: 0.001)
        XCTAssertEqual(std(m.blocks[0].mlp!.proj.weight), 0.02 / (8.0).squareRoot(), accuracy: 0.0005)
        XCTAssertEqual(m.blocks[0].norm1.weight.values, [Float](repeating: 1, count: 128))
        XCTAssertEqual(m.blocks[0].attn.qkv.bias!.values, [Float](repeating: 0, count: 384))
        // Same seed, same weights.
        let m2 = try GPTModel(config: c, seed: 3)
        XCTAssertEqual(m.blocks[3].mlp!.fc.weight.values, m2.blocks[3].mlp!.fc.weight.values)
    }

    // MARK: - Gradients through the whole model

    func testWholeModelGradientCheck() throws {
        for (name, f) in Self.variants {
            let c = tiny(f)
            let m = try GPTModel(config: c, seed: 2)
            let ids: [Int32] = [1, 5, 9, 2, 33, 7, 0, 4, 4, 8]
            let targets: [Int32] = [5, 9, 2, 33, 7, 0, 4, -100, 8, 1]
            let loss = m.loss(ids, targets: targets, batch: 2, length: 5, context: .inference)
            loss.backward()
            // Probe a few entries of several parameters with central differences.
            for (pname, p) in m.namedParameters where pname.contains("wte") || pname.contains("c_attn.weight") || pname.contains("c_proj") || pname.contains("ln_f") {
                guard let g = p.grad else { XCTFail("\(name) \(pname): no gradient"); continue }
                for i in stride(from: 0, to: p.count, by: max(1, p.count / 5)) {
                    let orig = p[flat: i], h: Float = 2e-3  // the bias directions curve enough that 1e-2 is too coarse
                    func L() -> Double {
                        Double(Autograd.withNoGrad { m.loss(ids, targets: targets, batch: 2, length: 5, context: .inference) }.item)
                    }
                    p[flat: i] = orig + h; let lp = L()
                    p[flat: i] = orig - h; let lm = L()
                    p[flat: i] = orig
                    let numeric = (lp - lm) / (2 * Double(h))
                    XCTAssertEqual(Double(g[flat: i]), numeric, accuracy: 2e-3 + 0.03 * abs(numeric), "\(name) \(pname)[\(i)]")
                }
            }
            for p in m.parameters { p.zeroGrad() }
        }
    }

    // MARK: - KV cache

    func testKVCacheLogitsMatchFullForward() throws {
        for (name, f) in Self.variants {
            let c = tiny(f)
            let m = try GPTModel(config: c, seed: 4)
            let ids: [Int32] = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7]
            let full = Autograd.withNoGrad { m.logits(ids, batch: 1, length: ids.count) }
            let gen = Generator(model: m)
            // Prefill 4 tokens at once, then one at a time.
            gen.feed(Array(ids.prefix(4)))
            var worst: Float = 0
            for j in 0..<c.vocabSize { worst = max(worst, abs(gen.logits[j] - full[flat: 3 * c.vocabSize + j])) }
            for t in 4..<ids.count {
                gen.feed([ids[t]])
                for j in 0..<c.vocabSize { worst = max(worst, abs(gen.logits[j] - full[flat: t * c.vocabSize + j])) }
            }
            XCTAssertLessThan(worst, 1e-4, name)
            XCTAssertEqual(gen.length, ids.count)
        }
    }

    func testSamplingIsSeededAndRespectsTopK() throws {
        let logits: [Float] = [0, 5, 1, 4.9, -2, 3]
        var r1 = RandomGenerator(seed: 1), r2 = RandomGenerator(seed: 1)
        let a = (0..<50).map { _ in Sampler.sample(logits, count: 6, options: SamplingOptions(temperature: 1, topK: 2), rng: &r1) }
        let b = (0..<50).map { _ in Sampler.sample(logits, count: 6, options: SamplingOptions(temperature: 1, topK: 2), rng: &r2) }
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set(a), [1, 3])
        var r = RandomGenerator(seed: 2)
        XCTAssertEqual(Sampler.sample(logits, count: 6, options: SamplingOptions(temperature: 0), rng: &r), 1)
        let p = (0..<200).map { _ in Sampler.sample(logits, count: 6, options: SamplingOptions(temperature: 1, topK: 0, topP: 0.5), rng: &r) }
        // p(1) ≈ 0.48 < 0.5, so the nucleus for 0.5 is {1, 3} (p(3) ≈ 0.44).
        XCTAssertEqual(Set(p), [1, 3])
    }

    // MARK: - Checkpoints

    func tmp(_ name: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-model-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: u)
        return u
    }

    func testSaveLoadRoundTripAndCorruption() throws {
        let c = tiny { $0.positions = .rope }
        let m = try GPTModel(config: c, seed: 5)
        let dir = tmp("rt")
        try ModelStore.save(m.namedParameters, config: c, to: dir)
        let back = try ModelStore.loadGPT(dir)
        XCTAssertEqual(back.config, c)
        for ((n1, a), (n2, b)) in zip(m.namedParameters, back.namedParameters) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(a.values, b.values)
        }
        // A flipped bit in the data: the checksum catches it.
        let url = dir.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: url)
        data[data.count - 5] ^= 0x10
        try data.write(to: url)
        XCTAssertThrowsError(try ModelStore.loadGPT(dir)) { XCTAssertTrue("\($0)".contains("checksum"), "\($0)") }
        // Truncated.
        try data.prefix(data.count / 2).write(to: url)
        XCTAssertThrowsError(try ModelStore.loadGPT(dir)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        // Config that does not match the weights.
        try ModelStore.save(m.namedParameters, config: c, to: dir)
        var wrong = c
        wrong.dModel = 32
        wrong.mlpHidden = 128
        try ModelStore.writeConfig(wrong, to: dir)
        XCTAssertThrowsError(try ModelStore.loadGPT(dir)) { XCTAssertTrue("\($0)".contains("do not match"), "\($0)") }
        // Malformed config.json: file and line.
        try "{\"model\": {\"vocab_size\": 3,}".write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelStore.loadGPT(dir)) { XCTAssertTrue("\($0)".contains("config.json:1"), "\($0)") }
    }

    func testWrongVocabularyIsRejected() throws {
        let c = tiny()
        let m = try GPTModel(config: c, seed: 6)
        let dir = tmp("vocab")
        try ModelStore.save(m.namedParameters, config: c, to: dir)
        XCTAssertThrowsError(try ModelBundle.open(dir, vocabulary: "gpt2")) { XCTAssertTrue("\($0)".contains("wrong vocabulary"), "\($0)") }
    }

    func testHuggingFaceExportLayout() throws {
        let c = tiny()
        let m = try GPTModel(config: c, seed: 7)
        let tok = try Tokenizer(tokens: (0..<256).map { [UInt8($0)] }, specialTokens: [:], pattern: .gpt2)
        let cc = ModelConfig(vocabSize: 256, context: 12, layers: 1, dModel: 16, heads: 2)
        let m2 = try GPTModel(config: cc, seed: 1)
        let out = tmp("hf")
        try HuggingFaceExport.export(model: m2, tokenizer: tok, to: out)
        let f = try SafeTensors.read(out.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(f.tensors["transformer.h.0.attn.c_attn.weight"]?.shape, [16, 48])  // Conv1D: [in, out]
        XCTAssertEqual(f.tensors["transformer.h.0.mlp.c_proj.weight"]?.shape, [64, 16])
        let w = m2.blocks[0].attn.qkv.weight  // [48, 16]
        XCTAssertEqual(f.tensors["transformer.h.0.attn.c_attn.weight"]!.values[1 * 48 + 5], w[flat: 5 * 16 + 1])
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(cfg["activation_function"] as? String, "gelu_new")
        XCTAssertEqual(cfg["n_embd"] as? Int, 16)
        XCTAssertThrowsError(try HuggingFaceExport.export(model: try GPTModel(config: tiny { $0.positions = .rope }, seed: 1), tokenizer: tok, to: out))
        _ = m
    }
}
