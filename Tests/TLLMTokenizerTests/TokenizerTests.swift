import Foundation
import XCTest
import TLLMCore
import TLLMTokenizer

final class TokenizerTests: XCTestCase {
    static let trained: Tokenizer = {
        let text = Array(try! String(contentsOfFile: ResourceLocator.find("corpora/shakespeare/hamlet.txt")!.path, encoding: .utf8).utf8)
        return try! BPETrainer(vocabularySize: 600, specialTokens: ["<|endoftext|>", "[MASK]"]).train(texts: [text]).0
    }()

    /// decode(encode(x)) == x for 100,000 seeded random byte strings, many of them invalid UTF-8.
    func testRoundTripOfRandomBytes() {
        var rng = RandomGenerator(seed: 2024)
        let fragments: [[UInt8]] = ["é", "你", "👍🏽", " ", "\n", "'s", "ab", "12", "\u{a0}", "\u{301}"].map { Array($0.utf8) }
        let tokenizers = [ParityTests.gpt2, ParityTests.cl100k, Self.trained]
        for k in 0..<100_000 {
            let len = rng.nextInt(below: 40)
            var b: [UInt8] = []
            while b.count < len {
                switch rng.nextInt(below: 4) {
                case 0: b.append(UInt8(rng.nextInt(below: 256)))                    // any byte
                case 1: b.append(contentsOf: fragments[rng.nextInt(below: fragments.count)])
                case 2: b.append(UInt8(0x80 + rng.nextInt(below: 64)))               // stray continuation
                default: b.append(UInt8(0x20 + rng.nextInt(below: 95)))             // printable ASCII
                }
            }
            let t = tokenizers[k % 3]
            let ids = t.encode(bytes: b)
            if t.decodeBytes(ids) != b {
                XCTFail("round trip failed for \(b) with \(t.name)")
                return
            }
        }
    }

    func testDecodeReplacesInvalidUTF8OnlyAtTheEnd() {
        let t = ParityTests.gpt2
        let ids = t.encode("é")  // one or more tokens; cutting inside the character must not lose bytes
        let bytes = Array("é".utf8)
        XCTAssertEqual(t.decodeBytes(ids), bytes)
        let invalid: [UInt8] = [0x61, 0xFF, 0x62]
        XCTAssertEqual(t.decodeBytes(t.encode(bytes: invalid)), invalid)
        XCTAssertEqual(t.decode(t.encode(bytes: invalid)), "a\u{FFFD}b")
    }

    func testLongPiecesUseTheHeapMergeWithTheSameResult() {
        let t = ParityTests.gpt2
        let s: [UInt8] = Array(String(repeating: "ab", count: 300).utf8)
        XCTAssertEqual(t.bpe.merge(Array(s.prefix(90)), algorithm: .quadratic), t.bpe.merge(Array(s.prefix(90)), algorithm: .heap))
        XCTAssertEqual(t.decodeBytes(t.encode(bytes: s)), s)
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<200 {
            let w = (0..<(2 + rng.nextInt(below: 90))).map { _ in UInt8(0x61 + rng.nextInt(below: 4)) }
            XCTAssertEqual(t.bpe.merge(w, algorithm: .quadratic), t.bpe.merge(w, algorithm: .heap))
        }
    }

    func testNormalization() throws {
        let nfc = try Tokenizer(tokens: (0..<256).map { [UInt8($0)] }, specialTokens: [:], pattern: .gpt2, normalization: .nfc)
        XCTAssertEqual(nfc.encode("e\u{301}"), nfc.encode("é"))
        let nfkc = try Tokenizer(tokens: (0..<256).map { [UInt8($0)] }, specialTokens: [:], pattern: .gpt2, normalization: .nfkc)
        XCTAssertEqual(nfkc.decode(nfkc.encode("ﬁ")), "fi")
        let none = try Tokenizer(tokens: (0..<256).map { [UInt8($0)] }, specialTokens: [:], pattern: .gpt2)
        XCTAssertNotEqual(none.encode("e\u{301}"), none.encode("é"))
        // Invalid bytes pass through normalization unchanged.
        XCTAssertEqual(nfc.decodeBytes(nfc.encode(bytes: [0xFF, 0x65, 0xCC, 0x81])), [0xFF, 0xC3, 0xA9])
    }

    // MARK: - Training

    func testTrainerOnAClassicExample() throws {
        // "aaabdaaabac" as one word repeated: the first merge is (a, a), the most frequent pair.
        let trainer = BPETrainer(vocabularySize: 259, minFrequency: 1)
        let (t, report) = try trainer.train(texts: [Array("aaabdaaabac".utf8)])
        XCTAssertEqual(report.merges, 3)
        XCTAssertEqual(t.bytes(of: 256), Array("aa".utf8))
        // Ties (aa→ab vs ab): the pair with the smaller ids wins; then merges follow the counts.
        XCTAssertEqual(t.decodeBytes(t.encode("aaabdaaabac")), Array("aaabdaaabac".utf8))
        XCTAssertLessThan(t.encode("aaabdaaabac").count, 11)
    }

    func testTrainerIsThreadCountIndependentAndRespectsLimits() throws {
        let text = [Array(try String(contentsOfFile: ResourceLocator.find("corpora/shakespeare/macbeth.txt")!.path, encoding: .utf8).utf8)]
        let trainer = BPETrainer(vocabularySize: 1000, minFrequency: 2, specialTokens: ["<|endoftext|>"])
        let saved = Threading.count
        Threading.set(1)
        let (a, _) = try trainer.train(texts: text)
        Threading.set(2)
        let (b, _) = try trainer.train(texts: text)
        Threading.set(saved)
        XCTAssertEqual(VocabularyFiles.encodeJSON(a), VocabularyFiles.encodeJSON(b))
        XCTAssertEqual(a.vocabularySize, 1000)
        XCTAssertEqual(a.specialID("<|endoftext|>"), 999)
        // A special token listed twice is an error, not a vocabulary with a gap in its ids.
        XCTAssertThrowsError(try BPETrainer(vocabularySize: 300, specialTokens: ["<|endoftext|>", "<|endoftext|>"]).train(texts: text))
        // A high min-frequency stops early.
        let (c, rep) = try BPETrainer(vocabularySize: 5000, minFrequency: 500).train(texts: text)
        XCTAssertLessThan(c.vocabularySize, 5000)
        XCTAssertGreaterThan(rep.merges, 0)
        // Training compresses: fewer tokens than bytes.
        XCTAssertLessThan(Double(a.encode(bytes: text[0]).count), Double(text[0].count) / 2.5)
    }

    func testJSONRoundTripKeepsEncodings() throws {
        let t = Self.trained
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-vocab-\(getpid()).json")
        try VocabularyFiles.writeJSON(t, to: url)
        let u = try VocabularyFiles.readJSON(url)
        let sample = "To be, or not to be: that is the question.\n  Whether 'tis nobler 123 <|endoftext|>"
        XCTAssertEqual(u.encode(sample), t.encode(sample))
        XCTAssertEqual(u.encode(sample, allowedSpecial: ["<|endoftext|>"]), t.encode(sample, allowedSpecial: ["<|endoftext|>"]))
        XCTAssertEqual(u.vocabularySize, t.vocabularySize)
        try? FileManager.default.removeItem(at: url)
    }

    func testDefaultVocabularyIsBundled() throws {
        let t = try VocabularyFiles.load(nil)
        XCTAssertEqual(t.vocabularySize, 8192)
        for s in ["<|endoftext|>", "[CLS]", "[SEP]", "[MASK]", "[PAD]"] { XCTAssertNotNil(t.specialID(s), s) }
        let text = "And God said, Let there be light: and there was light."
        XCTAssertEqual(t.decode(t.encode(text)), text)
    }

    // MARK: - Malformed files

    func write(_ name: String, _ content: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-bad-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let u = dir.appendingPathComponent(name)
        try! content.write(to: u, atomically: true, encoding: .utf8)
        return u
    }

    func assertError(_ body: () throws -> Void, mentions parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
        } catch {
            let s = "\(error)"
            for p in parts { XCTAssertTrue(s.contains(p), "'\(s)' should mention '\(p)'", file: file, line: line) }
        }
    }

    func testMalformedVocabulariesGiveClearErrors() throws {
        let good = VocabularyFiles.encodeJSON(Self.trained)
        // Bad JSON: position reported.
        let bad = write("bad.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1,,}}}")
        assertError({ _ = try VocabularyFiles.readJSON(bad) }, mentions: ["bad.json:1", "column"])
        // Truncated.
        let trunc = write("trunc.json", String(good.prefix(good.count / 2)))
        assertError({ _ = try VocabularyFiles.readJSON(trunc) }, mentions: ["trunc.json", "truncated"])
        // Missing merges.
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false)
        var dropped = lines
        if let k = dropped.lastIndex(where: { $0.hasPrefix("      \"") && !$0.contains(":") }) { dropped.remove(at: k) }
        let fixedComma = dropped.joined(separator: "\n").replacingOccurrences(of: ",\n    ]", with: "\n    ]")
        let missing = write("missing.json", fixedComma)
        assertError({ _ = try VocabularyFiles.readJSON(missing) }, mentions: ["missing.json", "merges"])
        // Duplicate token key.
        let dup = write("dup.json", good.replacingOccurrences(of: "\"vocab\": {\n", with: "\"vocab\": {\n      \"!\": 0,\n"))
        assertError({ _ = try VocabularyFiles.readJSON(dup) }, mentions: ["dup.json", "duplicate"])
        // Our JSON: an id gap (the highest vocab id moved up by 3) and an id used twice.
        var obj = try JSONSerialization.jsonObject(with: Data(good.utf8)) as! [String: Any]
        var model = obj["model"] as! [String: Any]
        var vocab = model["vocab"] as! [String: Int]
        let top = vocab.max { $0.value < $1.value }!
        vocab[top.key] = top.value + 3
        model["vocab"] = vocab; obj["model"] = model
        let gapJSON = write("gap.json", String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
        assertError({ _ = try VocabularyFiles.readJSON(gapJSON) }, mentions: ["gap.json", "no token has id \(top.value)"])
        vocab[top.key] = 0
        model["vocab"] = vocab; obj["model"] = model
        let twice = write("twice.json", String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
        assertError({ _ = try VocabularyFiles.readJSON(twice) }, mentions: ["twice.json", "used twice"])
        // tiktoken rank gap and bad base64, with line numbers.
        let gap = write("gap.tiktoken", "IQ== 0\nIg== 1\nIw== 3\n")
        assertError({ _ = try VocabularyFiles.readTiktoken(gap) }, mentions: ["gap.tiktoken:3", "rank 3"])
        let b64 = write("b64.tiktoken", "IQ== 0\n@@@ 1\n")
        assertError({ _ = try VocabularyFiles.readTiktoken(b64) }, mentions: ["b64.tiktoken:2", "base64"])
        let short = write("short.tiktoken", (0..<10).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }.joined(separator: "\n"))
        assertError({ _ = try VocabularyFiles.readTiktoken(short) }, mentions: ["short.tiktoken", "byte"])
        // GPT-2 pair: a merge line that names an unknown token.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-gpt2-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = ResourceLocator.find("vocab/gpt2")!
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("encoder.json"))
        try FileManager.default.copyItem(at: src.appendingPathComponent("encoder.json"), to: dir.appendingPathComponent("encoder.json"))
        var bpe = try String(contentsOf: src.appendingPathComponent("vocab.bpe"), encoding: .utf8)
        bpe = bpe.replacingOccurrences(of: "\nĠ t\n", with: "\nĠ zzzq\n")
        try bpe.write(to: dir.appendingPathComponent("vocab.bpe"), atomically: true, encoding: .utf8)
        assertError({ _ = try VocabularyFiles.readGPT2(directory: dir) }, mentions: ["vocab.bpe:2", "missing"])
    }

    // MARK: - Shards

    func testShardRoundTripAndValidation() throws {
        let ids: [Int32] = [0, 5, 8191, 42]
        let d = TokenShard.encode(ids, vocabularySize: 8192)
        XCTAssertEqual(d.count, 32 + 8)
        XCTAssertEqual(try TokenShard.decode(d, path: "x.bin").tokens, ids)
        let big = TokenShard.encode([70_000, 1], vocabularySize: 100_277)
        XCTAssertEqual(try TokenShard.decode(big, path: "y.bin").tokens, [70_000, 1])
        XCTAssertThrowsError(try TokenShard.decode(d.prefix(37), path: "t.bin")) { XCTAssertTrue("\($0)".contains("t.bin: byte 16")) }
        var bad = d
        bad[0] = 0x58
        XCTAssertThrowsError(try TokenShard.decode(bad, path: "m.bin")) { XCTAssertTrue("\($0)".contains("magic")) }
        let split = ShardBuilder.split(documents: [[1], [2], [3], [4]], separator: 0, validationFraction: 0.5)
        XCTAssertEqual(split.train, [1, 0, 3])
        XCTAssertEqual(split.validation, [2, 0, 4])
    }

    func testInvalidUTF8CorpusIsReportedWithLine() {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("bad-utf8-\(getpid()).txt")
        try! Data([0x61, 0x0A, 0x62, 0x0A, 0x63, 0xC3, 0x28]).write(to: u)
        assertError({ _ = try TextFiles.readUTF8(u.path) }, mentions: ["bad-utf8", ":3", "byte 5"])
    }
}
