import CUTF8Proc
import Foundation
import TLLMCore

/// Optional Unicode normalization applied before pre-tokenization.
public enum UnicodeNormalization: String, Codable, Sendable, CaseIterable {
    case none, nfc, nfkc
}

/// A byte-level BPE tokenizer: normalization (optional) → special tokens → pre-tokenizer pattern →
/// rank-based BPE per piece.
///
/// Any byte sequence encodes (invalid UTF-8 included), and `decode(encode(x)) == x` byte for byte
/// when no normalization is set. A tokenizer keeps per-thread piece caches and is not safe to
/// call from several threads at once; ``encodeDocuments(_:allowedSpecial:)`` parallelises itself.
public final class Tokenizer {
    // MARK: - Vocabulary

    /// How text is cut into pieces.
    public let pattern: PreTokenizerPattern
    /// Normalization applied to text before encoding.
    public let normalization: UnicodeNormalization
    /// Special tokens: text → id (recognised in text only when allowed).
    public let specialTokens: [String: Int32]
    /// A name for reports ("gpt2", "cl100k", a file name).
    public var name: String
    /// The BPE merge engine.
    public let bpe: BytePairEncoder
    let specialBytes: [Int32: [UInt8]]
    /// The total vocabulary size (ordinary + special, = largest id + 1).
    public let vocabularySize: Int

    private var caches: [PieceCache]

    /// A tokenizer over ordinary tokens `tokens[id]` (nil for ids used by specials) and specials.
    /// Bytes without a token of their own are an error unless `unknownToken` is given (they then
    /// encode as it).
    public init(tokens: [[UInt8]?], specialTokens: [String: Int32], pattern: PreTokenizerPattern,
                normalization: UnicodeNormalization = .none, name: String = "", unknownToken: Int32? = nil) throws {
        self.bpe = try BytePairEncoder(tokens: tokens, unknown: unknownToken)
        self.pattern = pattern
        self.normalization = normalization
        self.specialTokens = specialTokens
        self.name = name
        var sb: [Int32: [UInt8]] = [:]
        var maxID = tokens.count - 1
        for (s, id) in specialTokens {
            if Int(id) < tokens.count, tokens[Int(id)] != nil {
                throw TLLMError("special token \(s) reuses id \(id) of an ordinary token")
            }
            sb[id] = Array(s.utf8)
            maxID = max(maxID, Int(id))
        }
        specialBytes = sb
        vocabularySize = maxID + 1
        caches = (0..<max(1, Threading.count)).map { _ in PieceCache() }
    }

    /// The id of a special token, if this vocabulary has it.
    public func specialID(_ s: String) -> Int32? { specialTokens[s] }

    /// The bytes of a token (ordinary or special); empty for an id that is not in the vocabulary.
    public func bytes(of id: Int32) -> [UInt8] {
        if let s = specialBytes[id] { return s }
        guard bpe.isToken(Int(id)) else { return [] }
        return Array(bpe.bytes(of: Int(id)))
    }

    /// Whether `id` names a token.
    public func contains(_ id: Int32) -> Bool { specialBytes[id] != nil || bpe.isToken(Int(id)) }

    /// The merges in rank order, as `tokenizer.json` and GGUF spell them (`"Ġ t"`): for each
    /// token of ≥ 2 bytes, the split its encoding uses.
    public var mergeStrings: [String] {
        var merges: [String] = []
        for id in 0..<ordinaryCount where bpe.isToken(id) && bpe.bytes(of: id).count >= 2 {
            if let (a, b) = bpe.mergeParts(of: UInt32(id)) {
                merges.append(ByteLevel.string(bpe.bytes(of: Int(a))) + " " + ByteLevel.string(bpe.bytes(of: Int(b))))
            }
        }
        return merges
    }

    /// Every id's text as GGUF's `tokenizer.ggml.tokens` spells it (GPT-2's byte map for
    /// ordinary tokens, the text of special ones), with its GGUF token type (1 normal, 3 control).
    public var ggufTokens: (strings: [String], types: [Int32]) {
        var strings = [String](repeating: "", count: vocabularySize), types = [Int32](repeating: 1, count: vocabularySize)
        for id in 0..<vocabularySize {
            if let s = specialBytes[Int32(id)] { strings[id] = String(decoding: s, as: UTF8.self); types[id] = 3 }
            else if bpe.isToken(id) { strings[id] = ByteLevel.string(bpe.bytes(of: id)) }
            else { strings[id] = "<unused\(id)>"; types[id] = 5 }
        }
        return (strings, types)
    }

    /// The number of ordinary tokens (bytes + merges).
    public var ordinaryCount: Int { bpe.count }

    // MARK: - Encoding

    /// Encodes UTF-8 text. Special tokens in `allowedSpecial` are recognised; all others are
    /// encoded as ordinary text.
    public func encode(_ text: String, allowedSpecial: Set<String> = []) -> [Int32] {
        var s = text
        return s.withUTF8 { encode(bytes: UnsafeBufferPointer(start: $0.baseAddress, count: $0.count), allowedSpecial: allowedSpecial) }
    }

    /// Encodes raw bytes (any bytes; invalid UTF-8 is fine).
    public func encode(bytes: [UInt8], allowedSpecial: Set<String> = []) -> [Int32] {
        bytes.withUnsafeBufferPointer { encode(bytes: $0, allowedSpecial: allowedSpecial) }
    }

    public func encode(bytes buf: UnsafeBufferPointer<UInt8>, allowedSpecial: Set<String> = []) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(buf.count / 3 + 16)
        if normalization != .none {
            let normalized = Self.normalize(buf, normalization)
            normalized.withUnsafeBufferPointer { encodeSegments($0, allowedSpecial, into: &out, cache: caches[0]) }
        } else {
            encodeSegments(buf, allowedSpecial, into: &out, cache: caches[0])
        }
        return out
    }

    /// Splits on allowed special tokens and encodes the ordinary text between them.
    func encodeSegments(_ buf: UnsafeBufferPointer<UInt8>, _ allowed: Set<String>, into out: inout [Int32], cache: PieceCache) {
        guard let base = buf.baseAddress, buf.count > 0 else { return }
        if allowed.isEmpty {
            encodeOrdinary(base, 0..<buf.count, total: buf.count, into: &out, cache: cache)
            return
        }
        let specials = allowed.compactMap { s -> ([UInt8], Int32)? in
            guard let id = specialTokens[s] else { return nil }
            return (Array(s.utf8), id)
        }.sorted { $0.0.count > $1.0.count }
        var firstBytes = [Bool](repeating: false, count: 256)
        for (b, _) in specials where !b.isEmpty { firstBytes[Int(b[0])] = true }
        var segStart = 0, i = 0
        let n = buf.count
        while i < n {
            if firstBytes[Int(base[i])] {
                var matched: (Int, Int32)? = nil
                for (b, id) in specials where i + b.count <= n && memcmp(base + i, b, b.count) == 0 {
                    matched = (b.count, id); break
                }
                if let (len, id) = matched {
                    // The text before a special token is scanned as if it ended there.
                    if segStart < i { encodeOrdinary(base, segStart..<i, total: i, into: &out, cache: cache) }
                    out.append(id)
                    i += len
                    segStart = i
                    continue
                }
            }
            i += 1
        }
        if segStart < n { encodeOrdinary(base, segStart..<n, total: n, into: &out, cache: cache) }
    }

    /// Pre-tokenizes `range` of `p` (a text that ends at `total`) and BPE-encodes each piece.
    @inline(__always)
    func encodeOrdinary(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, total: Int, into out: inout [Int32], cache: PieceCache) {
        let scanner = PieceScanner(p, count: total, pattern: pattern)
        scanner.forEachPiece(in: range) { s, e in bpe.encodePiece(p + s, e - s, into: &out, cache: cache) }
    }

    /// Encodes many documents in parallel (one cache per thread); results in input order.
    public func encodeDocuments(_ docs: [String], allowedSpecial: Set<String> = []) -> [[Int32]] {
        var results = [[Int32]](repeating: [], count: docs.count)
        ensureCaches()
        results.withUnsafeMutableBufferPointer { res in
            Parallel.forChunks(docs.count) { c, r in
                for d in r {
                    var s = docs[d]
                    var out: [Int32] = []
                    s.withUTF8 { buf in
                        if normalization != .none {
                            let normalized = Self.normalize(buf, normalization)
                            normalized.withUnsafeBufferPointer { encodeSegments($0, allowedSpecial, into: &out, cache: caches[c]) }
                        } else {
                            encodeSegments(buf, allowedSpecial, into: &out, cache: caches[c])
                        }
                    }
                    res[d] = out
                }
            }
        }
        return results
    }

    /// Encodes one large text using every thread: the text is cut at positions that are piece
    /// boundaries for both patterns whatever surrounds them (a newline followed by an ASCII letter),
    /// and the parts are encoded in parallel. The result equals ``encode(bytes:allowedSpecial:)``
    /// with no specials allowed.
    public func encodeParallel(bytes buf: UnsafeBufferPointer<UInt8>) -> [Int32] {
        guard let base = buf.baseAddress, buf.count > 0 else { return [] }
        if normalization != .none { return encode(bytes: buf) }
        ensureCaches()
        let n = buf.count
        let parts = max(1, min(Threading.count * 4, n / (1 << 16)))
        var cuts = [0]
        for k in 1..<parts {
            var i = max(cuts.last! + 1, n * k / parts)
            while i < n && !(base[i - 1] == 0x0A && Self.isASCIILetter(base[i])) { i += 1 }
            if i < n { cuts.append(i) }
        }
        cuts.append(n)
        let segments = cuts.count - 1
        var results = [[Int32]](repeating: [], count: segments)
        results.withUnsafeMutableBufferPointer { res in
            Parallel.forChunks(segments) { c, r in
                for s in r {
                    var out: [Int32] = []
                    out.reserveCapacity((cuts[s + 1] - cuts[s]) / 3)
                    encodeOrdinary(base, cuts[s]..<cuts[s + 1], total: n, into: &out, cache: caches[c])
                    res[s] = out
                }
            }
        }
        return Array(results.joined())
    }

    @inline(__always)
    static func isASCIILetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    /// Empties the piece caches (benchmarks time encoding from a cold cache).
    public func resetCaches() {
        caches = (0..<max(1, Threading.count)).map { _ in PieceCache() }
    }

    private func ensureCaches() {
        while caches.count < Threading.count { caches.append(PieceCache()) }
    }

    // MARK: - Decoding

    /// The exact bytes of `ids` (unknown ids are skipped).
    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            if let s = specialBytes[id] { out.append(contentsOf: s) } else if bpe.isToken(Int(id)) { out.append(contentsOf: bpe.bytes(of: Int(id))) }
        }
        return out
    }

    /// Text of `ids`; invalid UTF-8 (a token sequence cut inside a character) becomes U+FFFD, only here.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    // MARK: - Pre-tokenization (for inspection and training)

    /// The pre-token pieces of `text`, as byte ranges.
    public func pieces(of bytes: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        bytes.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress else { return }
            PieceScanner(p, count: b.count, pattern: pattern).forEachPiece(in: 0..<b.count) { out.append($0..<$1) }
        }
        return out
    }

    // MARK: - Normalization

    /// NFC/NFKC of the valid UTF-8 runs of `buf`; invalid bytes pass through unchanged.
    static func normalize(_ buf: UnsafeBufferPointer<UInt8>, _ form: UnicodeNormalization) -> [UInt8] {
        guard form != .none, let base = buf.baseAddress else { return Array(buf) }
        var options = UTF8PROC_STABLE.rawValue | UTF8PROC_COMPOSE.rawValue
        if form == .nfkc { options |= UTF8PROC_COMPAT.rawValue }
        var out: [UInt8] = []
        out.reserveCapacity(buf.count)
        let cc = CharClassifier.shared
        var i = 0
        let n = buf.count
        while i < n {
            // The next valid run.
            var j = i
            while j < n {
                let c = cc.decode(base, j, n)
                if c.len == 1 && base[j] >= 0x80 { break }
                j += c.len
            }
            if j > i {
                var dst: UnsafeMutablePointer<utf8proc_uint8_t>? = nil
                let len = utf8proc_map(base + i, j - i, &dst, utf8proc_option_t(rawValue: options))
                if len >= 0, let dst {
                    out.append(contentsOf: UnsafeBufferPointer(start: dst, count: len))
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(start: base + i, count: j - i))
                }
                free(dst)
            }
            if j < n { out.append(base[j]); j += 1 }
            i = j
        }
        return out
    }
}
