import Foundation
import XCTest
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer
import TLLMTraining

final class TransferTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    static let tokenizer: Tokenizer = try! VocabularyFiles.load("vocab/tllm-2k.json")
    static let segments: SegmentedCorpus = {
        var c = try! Corpus.load("shakespeare")
        c.documents = Array(c.documents.prefix(10))
        return SegmentedCorpus.make(c, tokenizer: tokenizer, validationFraction: 0.1)
    }()

    func testMaskingStatistics() throws {
        let b = try MaskedLMBatcher(documents: Self.segments.train, tokenizer: Self.tokenizer, batch: 32, length: 64, nsp: false)
        var rng = RandomGenerator(seed: 1)
        var real = 0, selected = 0, masked = 0, random = 0, kept = 0
        for _ in 0..<100 {
            let x = b.next(&rng)
            for i in 0..<x.ids.count where x.ids[i] != b.pad {
                let original = x.targets[i] == -100 ? x.ids[i] : x.targets[i]
                if original == b.cls || original == b.sep { continue }
                real += 1
                guard x.targets[i] != -100 else { continue }
                selected += 1
                if x.ids[i] == b.mask { masked += 1 } else if x.ids[i] == x.targets[i] { kept += 1 } else { random += 1 }
            }
        }
        XCTAssertGreaterThan(real, 150_000)
        XCTAssertEqual(Double(selected) / Double(real), 0.15, accuracy: 0.005)
        XCTAssertEqual(Double(masked) / Double(selected), 0.8, accuracy: 0.01)
        // A random replacement can draw the original token (p = 1/ordinary), which counts as kept.
        XCTAssertEqual(Double(random) / Double(selected), 0.1, accuracy: 0.01)
        XCTAssertEqual(Double(kept) / Double(selected), 0.1, accuracy: 0.01)
    }

    func testNSPPairsAreBalancedAndNegativesComeFromOtherDocuments() throws {
        let b = try MaskedLMBatcher(documents: Self.segments.train, tokenizer: Self.tokenizer, batch: 1, length: 128, nsp: true)
        var rng = RandomGenerator(seed: 2)
        var positives = 0
        let n = 4000
        for _ in 0..<n {
            let e = b.example(&rng)
            XCTAssertLessThanOrEqual(e.tokens.count, 128)
            XCTAssertEqual(e.tokens.first, b.cls)
            XCTAssertEqual(e.tokens.filter { $0 == b.sep }.count, 2)
            if e.next == 1 { positives += 1; XCTAssertEqual(e.documentA, e.documentB) } else { XCTAssertNotEqual(e.documentA, e.documentB) }
            // Segment ids: 0 through the first [SEP], 1 after.
            let firstSep = e.tokens.firstIndex(of: b.sep)!
            XCTAssertTrue(e.segments[...firstSep].allSatisfy { $0 == 0 } && e.segments[(firstSep + 1)...].allSatisfy { $0 == 1 })
        }
        XCTAssertEqual(Double(positives) / Double(n), 0.5, accuracy: 0.03)
    }

    func tinyBERT() throws -> BERTModel {
        try BERTModel(config: ModelConfig(architecture: .bert, vocabSize: Self.tokenizer.vocabularySize, context: 16, layers: 2, dModel: 16, heads: 2, segments: 2), seed: 4)
    }

    /// Central differences on the MLM head, the pooler, the NSP classifier, segment embeddings and
    /// a classification head.
    func testHeadGradients() throws {
        let m = try tinyBERT()
        let ids: [Int32] = [2043, 5, 9, 2046, 2044, 30, 31, 2044, 2047, 2047, 2043, 7, 2046, 11, 2044, 2047]
        let seg: [Int32] = [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        let lengths = [8, 7], positions: [Int32] = [3, 12], targets: [Int32] = [77, 13]
        let cls = Classifier(backbone: m, tokenizer: Self.tokenizer, classes: 3, seed: 1)
        func loss() -> Tensor {
            let h = m.encode(ids, segments: seg, lengths: lengths, batch: 2, length: 8)
            let p = m.pooled(h, batch: 2, length: 8)
            return m.mlmLogits(h, positions: positions).crossEntropy(targets: targets) + m.nspLogits(p).crossEntropy(targets: [1, 0])
                + cls.logits(p).crossEntropy(targets: [2, 0])
        }
        loss().backward()
        let probe: [(String, Tensor)] = [("mlm.dense", m.mlm.dense.weight), ("mlm.ln", m.mlm.norm.weight), ("mlm.bias", m.mlm.bias), ("pooler", m.pooler.dense.weight),
                                         ("nsp", m.nsp.weight), ("nsp.bias", m.nsp.bias!), ("wse", m.segmentEmbedding.weight), ("head", cls.head), ("head.bias", cls.headBias)]
        for (name, p) in probe {
            let g = try XCTUnwrap(p.grad, name)
            for i in stride(from: 0, to: p.count, by: max(1, p.count / 6)) {
                let orig = p[flat: i], h: Float = 2e-3
                p[flat: i] = orig + h; let lp = Double(Autograd.withNoGrad { loss() }.item)
                p[flat: i] = orig - h; let lm = Double(Autograd.withNoGrad { loss() }.item)
                p[flat: i] = orig
                let numeric = (lp - lm) / (2 * Double(h))
                XCTAssertEqual(Double(g[flat: i]), numeric, accuracy: 2e-3 + 0.03 * abs(numeric), "\(name)[\(i)]")
            }
        }
    }

    func writeTask(_ name: String, train: String, val: String, test: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-cls-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try! train.write(to: dir.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8)
        try! val.write(to: dir.appendingPathComponent("validation.jsonl"), atomically: true, encoding: .utf8)
        try! test.write(to: dir.appendingPathComponent("test.jsonl"), atomically: true, encoding: .utf8)
        return dir
    }

    func toyTask() -> URL {
        var rng = RandomGenerator(seed: 9)
        func rows(_ n: Int) -> String {
            (0..<n).map { _ -> String in
                let pos = rng.nextInt(below: 2) == 1
                let words = (0..<5).map { _ in pos ? ["apple", "pear", "fig"][rng.nextInt(below: 3)] : ["storm", "wind", "rain"][rng.nextInt(below: 3)] }
                return "{\"text\": \"\(words.joined(separator: " "))\", \"label\": \"\(pos ? "fruit" : "weather")\"}"
            }.joined(separator: "\n")
        }
        return writeTask("toy", train: rows(96), val: rows(32), test: rows(64))
    }

    func testTinyFineTuneBeatsChanceAndFrozenLayersStayFrozen() throws {
        let task = try ClassificationTask.load(toyTask())
        // From scratch, full: a separable task is learned.
        let m = try tinyBERT()
        let c = Classifier(backbone: m, tokenizer: Self.tokenizer, classes: 2, seed: 3)
        var o = FineTuneOptions()
        o.epochs = 6; o.learningRate = 3e-3; o.evalEvery = 3; o.patience = 10
        let r = try FineTuner.run(c, task: task, options: o)
        XCTAssertGreaterThan(r.testAccuracy, 0.8)
        // freeze:1 — embeddings and block 0 unchanged, no gradient buffers, block 1 changed.
        let m2 = try tinyBERT()
        let before = m2.namedParameters.map { ($0.0, $0.1.values) }
        let c2 = Classifier(backbone: m2, tokenizer: Self.tokenizer, classes: 2, seed: 3)
        o.mode = .freeze(1); o.epochs = 1
        _ = try FineTuner.run(c2, task: task, options: o)
        for ((name, old), (_, p)) in zip(before, m2.namedParameters) {
            if name.hasPrefix("encoder.wte") || name.hasPrefix("encoder.wpe") || name.hasPrefix("encoder.wse") || name.hasPrefix("encoder.h.0.") {
                XCTAssertTrue(old == p.values, "\(name) changed under freeze:1")
                XCTAssertNil(p.gradStorage, name)
            }
        }
        XCTAssertFalse(before.first { $0.0 == "encoder.h.1.attn.c_attn.weight" }!.1 == m2.blocks[1].attn.qkv.weight.values)
    }

    /// A probe trains on standardised cached features, leaves the encoder untouched, and its head
    /// (with the standardisation folded in) gives the reported accuracy on raw features.
    func testProbeFoldsItsStandardisationIntoTheHead() throws {
        let task = try ClassificationTask.load(toyTask())
        let m = try tinyBERT()
        let before = m.namedParameters.map { $0.1.values }
        let c = Classifier(backbone: m, tokenizer: Self.tokenizer, classes: 2, seed: 3)
        var o = FineTuneOptions()
        o.mode = .probe; o.learningRate = 3e-3
        let r = try FineTuner.run(c, task: task, options: o)
        XCTAssertGreaterThan(r.testAccuracy, 0.7)
        XCTAssertTrue(zip(before, m.namedParameters).allSatisfy { $0.0 == $0.1.1.values }, "a probe changed the encoder")
        let preds = Autograd.withNoGrad { Metrics.argmaxRows(c.logits(c.features(task.test.map(\.pair)))) }
        let acc = Double(zip(preds, task.test.map(\.label)).filter { $0 == $1 }.count) / Double(task.test.count)
        XCTAssertEqual(acc, r.testAccuracy, accuracy: 1e-9)
    }

    func testTheTapeStopsAtTheLowestTrainableBlock() throws {
        let m = try tinyBERT()
        let c = Classifier(backbone: m, tokenizer: Self.tokenizer, classes: 2, seed: 3)
        let xs = [ClassificationTask.Example(text: "to be or not", textB: nil, label: 0)]
        func nodes(_ mode: FineTuneMode) -> Int {
            _ = c.apply(mode)
            let n0 = Autograd.recordedNodes
            let l = c.logits(c.features(xs.map(\.pair))).crossEntropy(targets: [0])
            let n = Autograd.recordedNodes - n0
            l.backward()
            for p in m.namedParameters.map(\.1) + [c.head, c.headBias] { p.zeroGrad() }
            return n
        }
        let full = nodes(.full), f1 = nodes(.freeze(1)), f2 = nodes(.freeze(2)), probe = nodes(.probe)
        XCTAssertLessThan(f1, full)
        XCTAssertLessThan(f2, f1)
        XCTAssertLessThanOrEqual(probe, f2)
        // With everything below the head frozen only the pooler, head and loss record: a handful of nodes.
        XCTAssertLessThan(probe, 10)
    }

    func testBadClassificationFilesAreRejectedWithFileAndLine() {
        let ok = "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"y\"}\n"
        func expect(_ train: String, _ test: String, _ parts: [String], line: UInt = #line) {
            XCTAssertThrowsError(try ClassificationTask.load(writeTask("bad\(line)", train: train, val: ok, test: test)), line: line) { e in
                for p in parts { XCTAssertTrue("\(e)".contains(p), "'\(e)' should mention '\(p)'", line: line) }
            }
        }
        expect(ok + "{\"text\": \"c\"}\n", ok, ["train.jsonl:3", "label"])
        expect(ok, ok + "{\"text\": \"c\", \"label\": \"z\"}\n", ["test.jsonl:3", "unknown label"])
        expect(ok + "{\"text\": \"  \", \"label\": \"x\"}\n", ok, ["train.jsonl:3", "empty text"])
        expect(ok, "{\"text\": \"c\", \"label\": \"x\"\n", ["test.jsonl:1"])
    }
}
