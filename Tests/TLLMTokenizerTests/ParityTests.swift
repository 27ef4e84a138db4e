import Foundation
import XCTest
import TLLMCore
import TLLMTokenizer

/// Token-for-token parity with tiktoken (ids produced by bench/tiktoken_reference.py).
final class ParityTests: XCTestCase {
    static let fixture: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/parity.json")
        return try! JSONParser.parse([UInt8](try! Data(contentsOf: url)), path: url.path)
    }()
    static let gpt2 = try! VocabularyFiles.load("gpt2")
    static let cl100k = try! VocabularyFiles.load("cl100k")

    func tokenizer(_ name: String) -> Tokenizer { name == "gpt2" ? Self.gpt2 : Self.cl100k }

    static func fnv1a64(_ ids: [Int32]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for id in ids {
            var v = UInt32(bitPattern: id)
            for _ in 0..<4 { h = (h ^ UInt64(v & 0xFF)) &* 0x0000_0100_0000_01B3; v >>= 8 }
        }
        return String(format: "%016llx", h)
    }

    func testHelloWorld() {
        XCTAssertEqual(Self.gpt2.encode("Hello world"), [15496, 995])
    }

    func testWholeCorporaMatchTiktoken() throws {
        for entry in Self.fixture["corpora"]!.array! {
            let vocab = entry["vocab"]!.string!, file = entry["file"]!.string!
            let bytes = try TextFiles.readBytes(ResourceLocator.find(file)!.path)
            let ids = tokenizer(vocab).encode(bytes: bytes)
            XCTAssertEqual(ids.count, entry["count"]!.int!, "\(vocab) \(file)")
            XCTAssertEqual(Array(ids.prefix(3000)), entry["head"]!.array!.map { Int32($0.int!) }, "\(vocab) \(file)")
            XCTAssertEqual(Self.fnv1a64(ids), entry["fnv1a64"]!.string!, "\(vocab) \(file)")
            // The parallel encoder gives the same stream.
            let par = bytes.withUnsafeBufferPointer { tokenizer(vocab).encodeParallel(bytes: $0) }
            XCTAssertEqual(par, ids, "parallel \(vocab) \(file)")
        }
    }

    func testHardStringsMatchTiktoken() {
        var checked = 0
        for entry in Self.fixture["strings"]!.array! {
            let t = tokenizer(entry["vocab"]!.string!)
            let text = entry["text"]!.string!
            let expected = entry["ids"]!.array!.map { Int32($0.int!) }
            XCTAssertEqual(t.encode(text), expected, "\(entry["vocab"]!.string!): \(JSONValue.quote(text))")
            XCTAssertEqual(t.decode(expected), text)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 50)
    }

    func testSpecialTokensOnlyWhenAllowed() {
        let t = Self.gpt2
        let text = "a<|endoftext|>b"
        XCTAssertEqual(t.encode(text, allowedSpecial: ["<|endoftext|>"]), t.encode("a") + [50256] + t.encode("b"))
        XCTAssertFalse(t.encode(text).contains(50256))
        XCTAssertEqual(t.decode(t.encode(text)), text)
        // Text before a special token is scanned as if the text ended there (trailing spaces).
        XCTAssertEqual(t.encode("x  <|endoftext|>", allowedSpecial: ["<|endoftext|>"]), t.encode("x  ") + [50256])
    }

    func testPreTokenizerPieces() {
        func pieces(_ t: Tokenizer, _ s: String) -> [String] {
            let b = Array(s.utf8)
            return t.pieces(of: b).map { String(decoding: b[$0], as: UTF8.self) }
        }
        XCTAssertEqual(pieces(Self.gpt2, "Hello  world's 123\n\n x"), ["Hello", " ", " world", "'s", " 123", "\n\n", " x"])
        XCTAssertEqual(pieces(Self.gpt2, "end  "), ["end", "  "])
        XCTAssertEqual(pieces(Self.cl100k, "I'LL 12345\n\n  x!\n"), ["I", "'LL", " ", "123", "45", "\n\n", " ", " x", "!\n"])
        XCTAssertEqual(pieces(Self.cl100k, "\tword (word"), ["\tword", " (", "word"])
    }
}
