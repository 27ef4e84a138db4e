import Foundation
import XCTest
import TLLMCore
import TLLMModels

/// Checkpoints written by tllm before the layers API (Tests/TLLMModelsTests/Fixtures/legacy, made by
/// the previous release with perturbed weights) load and give the same outputs to the bit:
/// logits, truncated hidden states, KV-cache logits, dropout forwards, and BERT's heads.
final class LegacyCheckpointTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/legacy")

    override class func setUp() { BLASRuntime.prepare() }

    func expected(_ name: String) throws -> [String: (shape: [Int], values: [Float])] {
        try SafeTensors.read(Self.root.appendingPathComponent(name).appendingPathComponent("expected.safetensors")).tensors
    }

    /// Bit-identical under the OpenBLAS kernel family that wrote the fixtures; another family (the
    /// machine kinds differ between sessions: Cooperlake kernels on CPUs with avx512_bf16, SkylakeX
    /// or Haswell elsewhere) sums the same products in another order, so there the check is that no
    /// output moved by more than 1e-5 — a wrong tensor mapping or layout moves them by O(1).
    func assertBitIdentical(_ got: [Float], _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let same = zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern }
        let maxDiff = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        if Self.fixtureKernels.contains(BLASRuntime.coreName.lowercased()) {
            XCTAssertTrue(same, "\(what): max |Δ| \(maxDiff) under \(BLASRuntime.coreName)", file: file, line: line)
        } else {
            XCTAssertLessThanOrEqual(maxDiff, 1e-5, "\(what) under \(BLASRuntime.coreName)", file: file, line: line)
        }
    }

    /// Kernel families of the machines the fixtures were checked on bit-for-bit before (without avx512_bf16).
    static let fixtureKernels: Set<String> = ["skylakex", "haswell", "zen"]

    func testGPTCheckpointsGiveBitIdenticalOutputs() throws {
        for name in ["gpt-gelu", "gpt-rope-swiglu", "gpt-rope-swiglu-bias"] {
            let e = try expected(name)
            let m = try ModelStore.loadGPT(Self.root.appendingPathComponent(name))
            let ids = e["ids"]!.values.map { Int32($0) }
            let (B, T) = (2, 10)
            let logits = Autograd.withNoGrad { m.logits(ids, batch: B, length: T) }
            assertBitIdentical(logits.values, e["logits"]!.values, "\(name) logits")
            assertBitIdentical(Autograd.withNoGrad { m.hidden(ids, batch: B, length: T, upTo: 1) }.values, e["hidden_1"]!.values, "\(name) hidden after block 1")
            let g = Generator(model: m)
            g.feed(Array(ids.prefix(5)))
            assertBitIdentical(Array(UnsafeBufferPointer(start: g.logits, count: 40)), e["gen_1"]!.values, "\(name) KV prefill")
            g.feed([ids[5]])
            assertBitIdentical(Array(UnsafeBufferPointer(start: g.logits, count: 40)), e["gen_2"]!.values, "\(name) KV step 1")
            g.feed([ids[6]])
            assertBitIdentical(Array(UnsafeBufferPointer(start: g.logits, count: 40)), e["gen_3"]!.values, "\(name) KV step 2")
            // The same weights with dropout 0.2 and a fixed stream: the same masks as before.
            var c = m.config
            c.dropout = 0.2
            let md = try GPTModel(config: c, seed: 7)
            md.copyParameters(from: m)
            let context = ForwardContext.training(rng: RandomGenerator(seed: 11, stream: 3))
            assertBitIdentical(Autograd.withNoGrad { md.logits(ids, batch: B, length: T, context: context) }.values,
                               e["dropout_logits"]!.values, "\(name) dropout forward")
        }
    }

    func testBERTCheckpointGivesBitIdenticalOutputs() throws {
        let e = try expected("bert-nsp")
        let m = try ModelStore.loadBERT(Self.root.appendingPathComponent("bert-nsp"))
        let ids = e["ids"]!.values.map { Int32($0) }
        let (B, T) = (2, 10)
        let seg: [Int32] = (0..<(B * T)).map { Int32(($0 % T) >= 5 ? 1 : 0) }
        Autograd.withNoGrad {
            let h = m.encode(ids, segments: seg, lengths: [10, 7], batch: B, length: T)
            assertBitIdentical(h.values, e["hidden"]!.values, "BERT hidden")
            assertBitIdentical(m.encode(ids, segments: seg, lengths: [10, 7], batch: B, length: T, upTo: 1).values, e["hidden_1"]!.values, "BERT block 1")
            assertBitIdentical(m.mlmLogits(h, positions: [1, 3, 12]).values, e["mlm"]!.values, "BERT MLM logits")
            let pooled = m.pooled(h, batch: B, length: T)
            assertBitIdentical(pooled.values, e["pooled"]!.values, "BERT pooled")
            assertBitIdentical(m.nspLogits(pooled).values, e["nsp"]!.values, "BERT NSP logits")
        }
    }
}
