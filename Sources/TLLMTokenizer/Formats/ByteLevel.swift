/// GPT-2's reversible byte ↔ printable-character map ("bytes_to_unicode"), used by `encoder.json`,
/// `vocab.bpe` and HuggingFace's ByteLevel `tokenizer.json`: printable Latin-1 bytes map to
/// themselves, the other 68 to U+0100 onwards.
public enum ByteLevel {
    /// Byte → character.
    public static let encodeTable: [Character] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }()

    /// Character → byte.
    public static let decodeTable: [Character: UInt8] = {
        var d: [Character: UInt8] = [:]
        for (b, c) in encodeTable.enumerated() { d[c] = UInt8(b) }
        return d
    }()

    /// The ByteLevel string of some bytes.
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        String(bytes.map { encodeTable[Int($0)] })
    }

    /// The bytes of a ByteLevel string, or nil if a character is outside the map.
    public static func bytes(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        for ch in s {
            guard let b = decodeTable[ch] else { return nil }
            out.append(b)
        }
        return out
    }
}
