/// How text is cut into pieces before BPE: a hand-written scanner per pattern, exact to the
/// regular expressions they replace (no regex engine).
public enum PreTokenizerPattern: String, Codable, Sendable, CaseIterable {
    /// GPT-2 / r50k: `'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+$|\s+(?!\S)|\s`
    case gpt2
    /// cl100k: `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+(?!\S)|\s`
    case cl100k
    /// SmolLM / StarCoder 2 (`tokenizer.ggml.pre = smollm`): every digit is a piece of its own
    /// (HF's `Digits(individual_digits)`), then the GPT-2 pattern within what lies between digits.
    case smollm

    /// The regular expression the scanner implements (tiktoken 0.14's spelling).
    public var regex: String {
        switch self {
        case .gpt2:
            return #"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#
        case .cl100k:
            return #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#
        case .smollm:
            return #"\p{N} then '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#
        }
    }
}

/// Scans a byte buffer into pre-token pieces.
///
/// `end(of:)` returns where the piece starting at `i` ends. The scanner may look past the range it
/// is asked to cover (up to `n`, the end of the whole text), which is what makes it safe to split a
/// text at known piece boundaries and scan the parts in parallel.
public struct PieceScanner {
    let p: UnsafePointer<UInt8>
    let n: Int
    let pattern: PreTokenizerPattern
    let cc: CharClassifier

    public init(_ p: UnsafePointer<UInt8>, count n: Int, pattern: PreTokenizerPattern) {
        self.p = p
        self.n = n
        self.pattern = pattern
        self.cc = CharClassifier.shared
    }

    /// The end of the piece that starts at `i` (`i < n`).
    @inline(__always)
    public func end(of i: Int) -> Int {
        switch pattern {
        case .gpt2: return gpt2(i)
        case .cl100k: return cl100k(i)
        case .smollm: return smollm(i)
        }
    }

    /// Calls `body(start, end)` for every piece of `range`.
    @inline(__always)
    public func forEachPiece(in range: Range<Int>, _ body: (Int, Int) -> Void) {
        var i = range.lowerBound
        while i < range.upperBound {
            let e = end(of: i)
            body(i, e)
            i = e
        }
    }

    // MARK: - Runs

    /// The end of the run of `kind` characters starting at `i`.
    @inline(__always)
    func run(_ i: Int, _ kind: CharKind) -> Int {
        var j = i
        while j < n {
            let c = cc.decode(p, j, n)
            if c.kind != kind { break }
            j += c.len
        }
        return j
    }

    /// The end of a run of letters, or of numbers, or of "other" characters starting at `i`.
    @inline(__always)
    func runOther(_ i: Int) -> Int { run(i, .other) }

    @inline(__always)
    func runNewlines(_ i: Int) -> Int {
        var j = i
        while j < n, p[j] == 0x0A || p[j] == 0x0D { j += 1 }
        return j
    }

    // MARK: - GPT-2

    @inline(__always)
    func gpt2(_ i: Int) -> Int {
        let c = cc.decode(p, i, n)
        // '(?:[sdmt]|ll|ve|re)
        if c.cp == 0x27, i + 1 < n {
            let a = p[i + 1]
            if a == 0x73 || a == 0x64 || a == 0x6D || a == 0x74 { return i + 2 }  // s d m t
            if i + 2 < n {
                let b = p[i + 2]
                if (a == 0x6C && b == 0x6C) || (a == 0x76 && b == 0x65) || (a == 0x72 && b == 0x65) { return i + 3 }
            }
        }
        switch c.kind {
        case .letter: return run(i + c.len, .letter)
        case .number: return run(i + c.len, .number)
        case .other: return runOther(i + c.len)
        case .space:
            //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
            if i + 1 < n {
                let d = cc.decode(p, i + 1, n)
                switch d.kind {
                case .letter: return run(i + 1 + d.len, .letter)
                case .number: return run(i + 1 + d.len, .number)
                case .other: return runOther(i + 1 + d.len)
                default: break
                }
            }
            return whitespace(i, newlineRule: false)
        case .newline, .whitespace:
            return whitespace(i, newlineRule: false)
        }
    }

    // MARK: - SmolLM

    /// GPT-2's piece, except that digits are split off first: a digit is a piece alone, a space
    /// before a digit is not its prefix, and whitespace runs up to a digit are not shortened for it.
    @inline(__always)
    func smollm(_ i: Int) -> Int {
        let c = cc.decode(p, i, n)
        if c.kind == .number { return i + c.len }
        let e = gpt2(i)
        if c.kind == .space, e > i + 1, cc.decode(p, i + 1, n).kind == .number { return i + 1 }
        if c.kind.isWhitespace, e < n {
            let d = cc.decode(p, e, n)
            if d.kind.isWhitespace, e + d.len < n, cc.decode(p, e + d.len, n).kind == .number { return e + d.len }
        }
        return e
    }

    /// The whitespace alternatives: `\s+$`, (cl100k: `\s*[\r\n]`), `\s+(?!\S)`, `\s`.
    @inline(__always)
    func whitespace(_ i: Int, newlineRule: Bool) -> Int {
        var j = i, count = 0, lastStart = i, afterNewline = -1
        while j < n {
            let c = cc.decode(p, j, n)
            guard c.kind.isWhitespace else { break }
            lastStart = j
            j += c.len
            count += 1
            if c.kind == .newline { afterNewline = j }
        }
        if j == n { return n }                                   // \s+$
        if newlineRule && afterNewline > 0 { return afterNewline } // \s*[\r\n]
        if count >= 2 { return lastStart }                       // \s+(?!\S)
        return j                                                 // \s
    }

    // MARK: - cl100k

    @inline(__always)
    func isLetter(_ cp: UInt32, lower: UInt32, upper: UInt32) -> Bool { cp == lower || cp == upper }

    /// `'(?i:[sdmt]|ll|ve|re)`: the end of a contraction at `i` (an apostrophe), or nil.
    @inline(__always)
    func contractionCI(_ i: Int) -> Int? {
        guard i + 1 < n else { return nil }
        let a = cc.decode(p, i + 1, n)
        // Case-insensitive as the regex crate does it (simple case folding): s also matches ſ (U+017F).
        switch a.cp {
        case 0x73, 0x53, 0x17F, 0x64, 0x44, 0x6D, 0x4D, 0x74, 0x54: return i + 1 + a.len
        default: break
        }
        guard i + 1 + a.len < n else { return nil }
        let b = cc.decode(p, i + 1 + a.len, n)
        let ll = isLetter(a.cp, lower: 0x6C, upper: 0x4C) && isLetter(b.cp, lower: 0x6C, upper: 0x4C)
        let ve = isLetter(a.cp, lower: 0x76, upper: 0x56) && isLetter(b.cp, lower: 0x65, upper: 0x45)
        let re = isLetter(a.cp, lower: 0x72, upper: 0x52) && isLetter(b.cp, lower: 0x65, upper: 0x45)
        return (ll || ve || re) ? i + 1 + a.len + b.len : nil
    }

    @inline(__always)
    func cl100k(_ i: Int) -> Int {
        let c = cc.decode(p, i, n)
        if c.cp == 0x27, let e = contractionCI(i) { return e }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if c.kind == .letter { return run(i + c.len, .letter) }
        if c.kind != .newline && c.kind != .number && i + c.len < n {
            let d = cc.decode(p, i + c.len, n)
            if d.kind == .letter { return run(i + c.len + d.len, .letter) }
        }
        // \p{N}{1,3}
        if c.kind == .number {
            var j = i + c.len
            for _ in 0..<2 {
                guard j < n else { break }
                let d = cc.decode(p, j, n)
                guard d.kind == .number else { break }
                j += d.len
            }
            return j
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        if c.kind == .other { return runNewlines(runOther(i + c.len)) }
        if c.kind == .space && i + 1 < n {
            let d = cc.decode(p, i + 1, n)
            if d.kind == .other { return runNewlines(runOther(i + 1 + d.len)) }
        }
        return whitespace(i, newlineRule: true)
    }
}
