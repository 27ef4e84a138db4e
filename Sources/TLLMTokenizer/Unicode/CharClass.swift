import CUTF8Proc

/// The character classes the GPT-2 and cl100k patterns distinguish.
///
/// `letter` is general category L (Lu Ll Lt Lm Lo), `number` is N (Nd Nl No), `whitespace` is the
/// Unicode White_Space property (`\s` in the Rust regex crate that tiktoken uses), with `\r` and
/// `\n` told apart because cl100k treats them specially. Everything else — punctuation, symbols,
/// marks, controls, unassigned code points, and bytes that are not valid UTF-8 — is `other`.
public enum CharKind: UInt8, Sendable {
    case letter = 0, number, space, newline, whitespace, other

    @inline(__always) var isWhitespace: Bool { self == .space || self == .newline || self == .whitespace }
}

/// UTF-8 decoding and classification, one character at a time.
///
/// Invalid UTF-8 (stray continuation bytes, overlong forms, surrogates, truncated sequences) is
/// taken one byte at a time as a character of kind `other`, so every byte sequence scans.
public struct CharClassifier: Sendable {
    /// Kinds of the BMP code points (65,536 entries), built once from utf8proc.
    let bmp: [CharKind]

    /// The Unicode version of the utf8proc library's tables.
    public static var unicodeVersion: String { String(cString: utf8proc_unicode_version()) }

    public static let shared = CharClassifier()

    init() {
        var t = [CharKind](repeating: .other, count: 65_536)
        for cp in 0..<65_536 { t[cp] = CharClassifier.classify(UInt32(cp)) }
        bmp = t
    }

    /// The White_Space property (Unicode 15: PropList.txt).
    @inline(__always)
    static func isWhiteSpace(_ cp: UInt32) -> Bool {
        switch cp {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    static func classify(_ cp: UInt32) -> CharKind {
        if cp == 0x0A || cp == 0x0D { return .newline }
        if cp == 0x20 { return .space }
        if isWhiteSpace(cp) { return .whitespace }
        if cp >= 0xD800 && cp <= 0xDFFF { return .other }
        let cat = utf8proc_category(Int32(bitPattern: cp))
        switch cat {
        case UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LL, UTF8PROC_CATEGORY_LT, UTF8PROC_CATEGORY_LM, UTF8PROC_CATEGORY_LO:
            return .letter
        case UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_NL, UTF8PROC_CATEGORY_NO:
            return .number
        default:
            return .other
        }
    }

    /// The kind of a code point.
    @inline(__always)
    public func kind(of cp: UInt32) -> CharKind {
        cp < 65_536 ? bmp[Int(cp)] : CharClassifier.classify(cp)
    }

    /// Decodes the character at `i` (`i < n`): its code point (or the raw byte, for invalid
    /// UTF-8), its length in bytes and its kind.
    @inline(__always)
    public func decode(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (cp: UInt32, len: Int, kind: CharKind) {
        let b0 = p[i]
        if b0 < 0x80 { return (UInt32(b0), 1, bmp[Int(b0)]) }
        if b0 >= 0xC2 && b0 <= 0xDF {
            if i + 1 < n, p[i + 1] & 0xC0 == 0x80 {
                let cp = (UInt32(b0 & 0x1F) << 6) | UInt32(p[i + 1] & 0x3F)
                return (cp, 2, bmp[Int(cp)])
            }
        } else if b0 >= 0xE0 && b0 <= 0xEF {
            if i + 2 < n, p[i + 1] & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80 {
                let cp = (UInt32(b0 & 0x0F) << 12) | (UInt32(p[i + 1] & 0x3F) << 6) | UInt32(p[i + 2] & 0x3F)
                if cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF) { return (cp, 3, bmp[Int(cp)]) }
            }
        } else if b0 >= 0xF0 && b0 <= 0xF4 {
            if i + 3 < n, p[i + 1] & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80, p[i + 3] & 0xC0 == 0x80 {
                let cp = (UInt32(b0 & 0x07) << 18) | (UInt32(p[i + 1] & 0x3F) << 12)
                    | (UInt32(p[i + 2] & 0x3F) << 6) | UInt32(p[i + 3] & 0x3F)
                if cp >= 0x10000 && cp <= 0x10FFFF { return (cp, 4, CharClassifier.classify(cp)) }
            }
        }
        return (UInt32(b0), 1, .other)  // invalid UTF-8: one byte, kind other
    }
}
