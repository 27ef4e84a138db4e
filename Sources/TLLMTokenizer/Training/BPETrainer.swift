import Foundation
import TLLMCore

/// Trains a byte-level BPE vocabulary.
///
/// 1. Pre-tokenize the corpus with the chosen pattern and count distinct pieces ("words"),
///    in parallel; words are then sorted by their bytes, so everything after is independent of
///    the thread count.
/// 2. Start from the 256 byte tokens; count every adjacent pair, weighted by word counts, and keep
///    for each pair the list of words it occurs in.
/// 3. Repeatedly merge the most frequent pair — ties broken by the smaller (left id, right id), the
///    same rule as HuggingFace `tokenizers` — updating only the words that contain it and the pair
///    counts they change (a lazy max-heap), never recounting the corpus.
///
/// Ids: bytes are 0–255 (id = byte value), merges follow in order, specials come last.
public struct BPETrainer {
    public var vocabularySize: Int
    public var minFrequency: Int
    public var specialTokens: [String]
    public var pattern: PreTokenizerPattern
    public var normalization: UnicodeNormalization

    public init(vocabularySize: Int, minFrequency: Int = 2, specialTokens: [String] = [],
                pattern: PreTokenizerPattern = .gpt2, normalization: UnicodeNormalization = .none) {
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
        self.specialTokens = specialTokens
        self.pattern = pattern
        self.normalization = normalization
    }

    /// Statistics of a training run.
    public struct Report: Codable, Sendable {
        public var bytes: Int
        public var distinctWords: Int
        public var merges: Int
        public var countSeconds: Double
        public var mergeSeconds: Double
    }

    // MARK: - Word counting

    /// Distinct pre-token pieces of `texts` with their counts, sorted by bytes.
    public func countWords(_ texts: [[UInt8]]) -> [(word: [UInt8], count: Int)] {
        // Cut every text into parts at safe piece boundaries, count parts in parallel.
        var jobs: [(text: Int, range: Range<Int>)] = []
        for (t, text) in texts.enumerated() {
            let n = text.count
            let parts = max(1, min(Threading.count * 4, n / (1 << 18)))
            var cuts = [0]
            text.withUnsafeBufferPointer { b in
                for k in 1..<max(1, parts) {
                    var i = max(cuts.last! + 1, n * k / parts)
                    while i < n && !(b[i - 1] == 0x0A && Tokenizer.isASCIILetter(b[i])) { i += 1 }
                    if i < n { cuts.append(i) }
                }
            }
            cuts.append(n)
            for k in 0..<(cuts.count - 1) where cuts[k] < cuts[k + 1] { jobs.append((t, cuts[k]..<cuts[k + 1])) }
        }
        let workers = Parallel.chunkCount(jobs.count)
        let tables = (0..<max(1, workers)).map { _ in ByteStringTable(capacity: 1 << 15) }
        Parallel.forChunks(jobs.count) { c, r in
            let table = tables[c]
            for j in r {
                let job = jobs[j]
                texts[job.text].withUnsafeBufferPointer { b in
                    let scanner = PieceScanner(b.baseAddress!, count: b.count, pattern: pattern)
                    scanner.forEachPiece(in: job.range) { s, e in table.add(b.baseAddress! + s, e - s, 1) }
                }
            }
        }
        let merged = tables[0]
        for t in tables.dropFirst() {
            t.forEach { key, v in key.withUnsafeBufferPointer { merged.add($0.baseAddress!, $0.count, v) } }
        }
        var words: [(word: [UInt8], count: Int)] = []
        words.reserveCapacity(merged.count)
        merged.forEach { key, v in words.append((Array(key), Int(v))) }
        words.sort { $0.word.lexicographicallyPrecedes($1.word) }
        return words
    }

    // MARK: - Training

    /// Trains on UTF-8 (or any) byte texts; returns the tokenizer and a report.
    public func train(texts rawTexts: [[UInt8]]) throws -> (Tokenizer, Report) {
        let reserved = specialTokens.count
        var seen = Set<String>()
        for s in specialTokens {
            guard !s.isEmpty else { throw TLLMError("--special: an empty special token") }
            guard seen.insert(s).inserted else { throw TLLMError("--special: \(s) is listed twice") }
        }
        guard vocabularySize >= 256 + reserved else {
            throw TLLMError("--vocab-size \(vocabularySize) is too small: 256 byte tokens + \(reserved) specials are needed")
        }
        let t0 = Clock.now()
        let texts = normalization == .none ? rawTexts : rawTexts.map { t in
            t.withUnsafeBufferPointer { Tokenizer.normalize($0, normalization) }
        }
        let words = countWords(texts)
        let t1 = Clock.now()
        let (tokens, merges) = mergeLoop(words, targetMerges: vocabularySize - 256 - reserved)
        let t2 = Clock.now()
        var specials: [String: Int32] = [:]
        for (k, s) in specialTokens.enumerated() { specials[s] = Int32(tokens.count + k) }
        let tok = try Tokenizer(tokens: tokens, specialTokens: specials, pattern: pattern, normalization: normalization, name: "trained")
        return (tok, Report(bytes: texts.reduce(0) { $0 + $1.count }, distinctWords: words.count, merges: merges,
                            countSeconds: t1 - t0, mergeSeconds: t2 - t1))
    }

    /// The merge loop over counted words. Returns token bytes by id and the number of merges made.
    func mergeLoop(_ words: [(word: [UInt8], count: Int)], targetMerges: Int) -> ([[UInt8]?], Int) {
        var tokens: [[UInt8]?] = (0..<256).map { [UInt8($0)] }
        var known = [[UInt8]: Int32]()
        for b in 0..<256 { known[[UInt8(b)]] = Int32(b) }
        var symbols: [[Int32]] = words.map { w in w.word.map { Int32($0) } }
        let counts: [Int] = words.map(\.count)

        // Pair statistics.
        var pairIndex: [UInt64: Int32] = [:]
        var pairCount: [Int] = []
        var pairWords: [[Int32]] = []
        var pairKey: [UInt64] = []
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { (UInt64(UInt32(a)) << 32) | UInt64(UInt32(b)) }
        @inline(__always) func index(_ k: UInt64) -> Int {
            if let i = pairIndex[k] { return Int(i) }
            let i = pairCount.count
            pairIndex[k] = Int32(i)
            pairCount.append(0)
            pairWords.append([])
            pairKey.append(k)
            return i
        }
        for (w, s) in symbols.enumerated() where s.count >= 2 {
            for j in 0..<(s.count - 1) {
                let i = index(key(s[j], s[j + 1]))
                pairCount[i] += counts[w]
                if pairWords[i].last != Int32(w) { pairWords[i].append(Int32(w)) }
            }
        }

        // Max-heap of (count, pair index); ties → smaller pair key first.
        var heap = PairHeap()
        for i in 0..<pairCount.count where pairCount[i] > 0 { heap.push(count: pairCount[i], key: pairKey[i], index: Int32(i)) }

        var merges = 0
        var step: Int32 = 0
        var stamp = [Int32](repeating: -1, count: symbols.count)
        var delta: [Int32: Int] = [:]
        while merges < targetMerges, let top = heap.pop() {
            let pi = Int(top.index)
            let current = pairCount[pi]
            if current != top.count {
                if current > 0 && current < top.count { heap.push(count: current, key: top.key, index: top.index) }
                continue
            }
            if current < max(1, minFrequency) { break }
            let a = Int32(truncatingIfNeeded: top.key >> 32), b = Int32(truncatingIfNeeded: top.key & 0xFFFF_FFFF)
            let merged = tokens[Int(a)]! + tokens[Int(b)]!
            let newID: Int32
            if let existing = known[merged] {
                newID = existing
            } else {
                newID = Int32(tokens.count)
                tokens.append(merged)
                known[merged] = newID
                merges += 1
            }
            // Update every word that contains the pair.
            delta.removeAll(keepingCapacity: true)
            step += 1
            let stepStamp = step
            for wi in pairWords[pi] {
                let w = Int(wi)
                if stamp[w] == stepStamp { continue }
                stamp[w] = stepStamp
                var s = symbols[w]
                guard s.count >= 2 else { continue }
                let c = counts[w]
                var found = false
                for j in 0..<(s.count - 1) where s[j] == a && s[j + 1] == b { found = true; break }
                if !found { continue }
                for j in 0..<(s.count - 1) { delta[Int32(index(key(s[j], s[j + 1]))), default: 0] -= c }
                var out: [Int32] = []
                out.reserveCapacity(s.count)
                var j = 0
                while j < s.count {
                    if j + 1 < s.count && s[j] == a && s[j + 1] == b { out.append(newID); j += 2 } else { out.append(s[j]); j += 1 }
                }
                s = out
                for j in 0..<max(0, s.count - 1) {
                    let i = index(key(s[j], s[j + 1]))
                    delta[Int32(i), default: 0] += c
                    if (s[j] == newID || s[j + 1] == newID) && pairWords[i].last != wi { pairWords[i].append(wi) }
                }
                symbols[w] = s
            }
            for (i, d) in delta where d != 0 {
                pairCount[Int(i)] += d
                if d > 0 { heap.push(count: pairCount[Int(i)], key: pairKey[Int(i)], index: i) }
            }
            pairWords[pi] = []
        }
        return (tokens, merges)
    }
}

/// A binary max-heap on (count, then smaller key).
struct PairHeap {
    private var items: [(count: Int, key: UInt64, index: Int32)] = []

    @inline(__always)
    static func above(_ x: (count: Int, key: UInt64, index: Int32), _ y: (count: Int, key: UInt64, index: Int32)) -> Bool {
        x.count != y.count ? x.count > y.count : x.key < y.key
    }

    mutating func push(count: Int, key: UInt64, index: Int32) {
        items.append((count, key, index))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if Self.above(items[i], items[p]) { items.swapAt(i, p); i = p } else { break }
        }
    }

    mutating func pop() -> (count: Int, key: UInt64, index: Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.above(items[l], items[m]) { m = l }
                if r < items.count && Self.above(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m); i = m
            }
        }
        return top
    }
}
