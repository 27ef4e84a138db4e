import Foundation
import TLLMCore

/// A file of token ids: a 32-byte header, then the tokens.
///
/// Header (little-endian): magic `TLLMTOK1` (8 bytes), format version `UInt32` (1), token width in
/// bytes `UInt32` (2 or 4), token count `UInt64`, vocabulary size `UInt32`, reserved `UInt32`.
/// On load the magic, version, width and the file size (32 + count × width) are all checked.
public enum TokenShard {
    public static let magic: [UInt8] = Array("TLLMTOK1".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 32

    /// The narrowest width that holds every id of a vocabulary.
    public static func width(forVocabulary v: Int) -> Int { v <= 65_536 ? 2 : 4 }

    /// Encodes tokens with the header.
    public static func encode(_ tokens: [Int32], vocabularySize: Int) -> Data {
        let w = width(forVocabulary: vocabularySize)
        var d = Data(capacity: headerSize + tokens.count * w)
        d.append(contentsOf: magic)
        func put32(_ x: UInt32) { var v = x.littleEndian; withUnsafeBytes(of: &v) { d.append(contentsOf: $0) } }
        func put64(_ x: UInt64) { var v = x.littleEndian; withUnsafeBytes(of: &v) { d.append(contentsOf: $0) } }
        put32(version); put32(UInt32(w)); put64(UInt64(tokens.count)); put32(UInt32(vocabularySize)); put32(0)
        if w == 2 {
            var a = tokens.map { UInt16(truncatingIfNeeded: $0).littleEndian }
            a.withUnsafeMutableBytes { d.append(contentsOf: $0) }
        } else {
            var a = tokens.map { UInt32(bitPattern: $0).littleEndian }
            a.withUnsafeMutableBytes { d.append(contentsOf: $0) }
        }
        return d
    }

    /// Writes a shard atomically.
    public static func write(_ tokens: [Int32], vocabularySize: Int, to url: URL) throws {
        try AtomicFile.write(encode(tokens, vocabularySize: vocabularySize), to: url)
    }

    /// A loaded shard.
    public struct Contents {
        public var tokens: [Int32]
        public var vocabularySize: Int
    }

    /// Reads and validates a shard.
    public static func read(_ url: URL) throws -> Contents {
        let path = url.path
        guard let d = FileManager.default.contents(atPath: path) else { throw TLLMError("cannot read token shard", file: path) }
        return try decode(d, path: path)
    }

    public static func decode(_ d: Data, path: String) throws -> Contents {
        guard d.count >= headerSize else {
            throw TLLMError("token shard too short for its \(headerSize)-byte header (\(d.count) bytes)", file: path, byteOffset: 0)
        }
        return try d.withUnsafeBytes { raw -> Contents in
            guard Array(raw[0..<8]) == magic else { throw TLLMError("not a tllm token shard (bad magic)", file: path, byteOffset: 0) }
            let ver = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            guard ver == version else { throw TLLMError("token shard version \(ver) is not supported (expected \(version))", file: path, byteOffset: 8) }
            let w = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
            guard w == 2 || w == 4 else { throw TLLMError("token width \(w) is not 2 or 4", file: path, byteOffset: 12) }
            let n = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            let vocab = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
            let expected = UInt64(headerSize) + n * UInt64(w)
            guard n < (1 << 40), expected == UInt64(d.count) else {
                throw TLLMError("header says \(n) tokens (\(expected) bytes) but the file has \(d.count) bytes (truncated or corrupt)",
                                file: path, byteOffset: 16)
            }
            var tokens = [Int32](repeating: 0, count: Int(n))
            if w == 2 {
                for i in 0..<Int(n) { tokens[i] = Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: headerSize + 2 * i, as: UInt16.self))) }
            } else {
                for i in 0..<Int(n) { tokens[i] = Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: headerSize + 4 * i, as: UInt32.self))) }
            }
            if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= vocab }) {
                throw TLLMError("token \(tokens[bad]) at index \(bad) is outside the vocabulary of \(vocab)", file: path,
                                byteOffset: headerSize + bad * w)
            }
            return Contents(tokens: tokens, vocabularySize: vocab)
        }
    }
}
