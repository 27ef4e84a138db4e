import TLLMCore
import Foundation

/// Byte-pair encoding with merge ranks, as tiktoken does it: a piece starts as its bytes, and the
/// adjacent pair whose concatenation has the lowest rank is merged first (leftmost among equals),
/// until no adjacent pair concatenates to a token. Token id = rank.
///
/// Pairs are looked up in token space — `(left id, right id) → merged id`, built once from the
/// vocabulary — so a merge step costs one integer-hash probe instead of hashing byte strings.
public final class BytePairEncoder {
    /// Token id → bytes (an arena with offsets).
    let tokenArena: [UInt8]
    let tokenOffsets: [Int32]   // count + 1
    /// Bytes → token id.
    let ranks: ByteStringTable
    /// (left id, right id) → id of their concatenation.
    let pairs: PairTable
    /// The id of each single byte.
    let byteToken: [UInt32]
    /// The number of ordinary (non-special) tokens; ids are 0..<count, possibly with gaps filled by specials.
    public let count: Int

    /// Builds an encoder from `tokens[id]` = bytes (ordinary tokens only; ids may skip ranges used by
    /// specials: those entries are nil).
    init(tokens: [[UInt8]?], unknown: Int32? = nil) throws {
        var arena: [UInt8] = []
        var offsets: [Int32] = [0]
        let table = ByteStringTable(capacity: tokens.count)
        for (id, t) in tokens.enumerated() {
            if let t {
                arena.append(contentsOf: t)
                if !table.set(t, UInt32(id)) {
                    throw TLLMError("token \(id) duplicates the bytes of an earlier token")
                }
            }
            offsets.append(Int32(arena.count))
        }
        var bytes = [UInt32](repeating: UInt32.max, count: 256)
        for b in 0..<256 {
            if let id = table.get([UInt8(b)], 1) { bytes[b] = id }
        }
        if let missing = bytes.firstIndex(of: UInt32.max) {
            guard let unknown, unknown >= 0 else {
                throw TLLMError("the vocabulary has no token for byte 0x\(String(missing, radix: 16)); byte-level BPE needs all 256")
            }
            for b in 0..<256 where bytes[b] == UInt32.max { bytes[b] = UInt32(unknown) }
        }
        // Every split of a token into two tokens is a merge that produces it.
        let pt = PairTable(capacity: tokens.count * 4)
        arena.withUnsafeBufferPointer { ar in
            for (id, t) in tokens.enumerated() where (t?.count ?? 0) >= 2 {
                let start = Int(offsets[id]), len = t!.count
                for k in 1..<len {
                    if let a = table.get(ar.baseAddress! + start, k), let b = table.get(ar.baseAddress! + start + k, len - k) {
                        pt.insertIfAbsent(a, b, UInt32(id))
                    }
                }
            }
        }
        tokenArena = arena
        tokenOffsets = offsets
        ranks = table
        pairs = pt
        byteToken = bytes
        count = tokens.count
    }

    /// The bytes of an ordinary token.
    @inline(__always)
    func bytes(of id: Int) -> ArraySlice<UInt8> {
        tokenArena[Int(tokenOffsets[id])..<Int(tokenOffsets[id + 1])]
    }

    /// Whether `id` is an ordinary token.
    func isToken(_ id: Int) -> Bool { id >= 0 && id < count && tokenOffsets[id + 1] > tokenOffsets[id] }

    // MARK: - Encoding one piece

    /// Appends the tokens of `p[0..<n]` to `out`, using and filling `cache`.
    @inline(__always)
    func encodePiece(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32], cache: PieceCache) {
        if n == 1 { out.append(Int32(byteToken[Int(p[0])])); return }
        if let id = ranks.get(p, n) { out.append(Int32(id)); return }
        if cache.lookup(p, n, into: &out) { return }
        let start = out.count
        if n <= 96 { mergeSmall(p, n, into: &out) } else { mergeLarge(p, n, into: &out) }
        cache.insert(p, n, tokens: out[start...])
    }

    /// The quadratic merge for short pieces (all state on the stack).
    @inline(__always)
    func mergeSmall(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * n) { buf in
            let tok = buf.baseAddress!, rank = buf.baseAddress! + n
            var m = n
            for i in 0..<n { tok[i] = byteToken[Int(p[i])] }
            for i in 0..<(n - 1) { rank[i] = pairs.get(tok[i], tok[i + 1]) ?? .max }
            while m > 1 {
                var best = UInt32.max, at = -1
                for i in 0..<(m - 1) where rank[i] < best { best = rank[i]; at = i }
                if at < 0 { break }
                tok[at] = best
                // Remove part at+1.
                var i = at + 1
                while i < m - 1 { tok[i] = tok[i + 1]; rank[i] = rank[i + 1]; i += 1 }
                m -= 1
                if at > 0 { rank[at - 1] = pairs.get(tok[at - 1], tok[at]) ?? .max }
                if at < m - 1 { rank[at] = pairs.get(tok[at], tok[at + 1]) ?? .max }
            }
            for i in 0..<m { out.append(Int32(tok[i])) }
        }
    }

    /// The heap-based merge for long pieces: O(n log n), same result as the quadratic rule
    /// (the heap orders by (rank, position), so ties go to the leftmost pair).
    func mergeLarge(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) {
        var tok = (0..<n).map { byteToken[Int(p[$0])] }
        var next = Array(1...n)          // n = none
        var prev = Array(-1..<(n - 1))   // -1 = none
        var alive = [Bool](repeating: true, count: n)
        var version = [UInt32](repeating: 0, count: n)
        // Heap entries: (rank, position, version of the left part).
        var heap: [(UInt32, Int, UInt32)] = []
        heap.reserveCapacity(n)
        func less(_ a: (UInt32, Int, UInt32), _ b: (UInt32, Int, UInt32)) -> Bool {
            a.0 != b.0 ? a.0 < b.0 : a.1 < b.1
        }
        func push(_ e: (UInt32, Int, UInt32)) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if less(heap[i], heap[parent]) { heap.swapAt(i, parent); i = parent } else { break }
            }
        }
        func pop() -> (UInt32, Int, UInt32)? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && less(heap[l], heap[m]) { m = l }
                    if r < heap.count && less(heap[r], heap[m]) { m = r }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
            return top
        }
        func pushPair(_ i: Int) {
            let j = next[i]
            guard j < n, let r = pairs.get(tok[i], tok[j]) else { return }
            push((r, i, version[i] &* 65_537 &+ version[j]))
        }
        for i in 0..<(n - 1) { pushPair(i) }
        while let (r, i, v) = pop() {
            guard alive[i] else { continue }
            let j = next[i]
            guard j < n, alive[j], v == version[i] &* 65_537 &+ version[j], pairs.get(tok[i], tok[j]) == r else { continue }
            tok[i] = r
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            version[i] &+= 1
            if prev[i] >= 0 { pushPair(prev[i]) }
            pushPair(i)
        }
        var i = 0
        while i < n { out.append(Int32(tok[i])); i = next[i] }
    }
}

extension BytePairEncoder {
    /// Which merge implementation to run (both give the same result; the encoder picks by length).
    public enum MergeAlgorithm: Sendable { case quadratic, heap }

    /// Merges one piece with the chosen algorithm, without the cache (for tests and benchmarks).
    public func merge(_ bytes: [UInt8], algorithm: MergeAlgorithm) -> [Int32] {
        var out: [Int32] = []
        guard !bytes.isEmpty else { return out }
        bytes.withUnsafeBufferPointer { b in
            switch algorithm {
            case .quadratic: mergeSmall(b.baseAddress!, b.count, into: &out)
            case .heap: mergeLarge(b.baseAddress!, b.count, into: &out)
            }
        }
        return out
    }
}

/// Recently encoded pieces → their tokens, for one thread. Bounded: stops growing at `limit` pieces.
final class PieceCache {
    private let table = ByteStringTable(capacity: 1 << 14)
    private var spans: [(start: Int32, count: Int32)] = []
    private var tokens: [Int32] = []
    let limit: Int

    init(limit: Int = 1 << 20) { self.limit = limit }

    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) -> Bool {
        guard let e = table.get(p, n) else { return false }
        let s = spans[Int(e)]
        out.append(contentsOf: tokens[Int(s.start)..<Int(s.start + s.count)])
        return true
    }

    @inline(__always)
    func insert(_ p: UnsafePointer<UInt8>, _ n: Int, tokens t: ArraySlice<Int32>) {
        guard spans.count < limit else { return }
        table.set(Array(UnsafeBufferPointer(start: p, count: n)), UInt32(spans.count))
        spans.append((Int32(tokens.count), Int32(t.count)))
        tokens.append(contentsOf: t)
    }
}

extension BytePairEncoder {
    /// The two tokens whose merge produces `id` in this encoder's own BPE of the token's bytes
    /// (the last merge applied), for writing a merges list.
    func mergeParts(of id: UInt32) -> (UInt32, UInt32)? {
        let b = Array(bytes(of: Int(id)))
        guard b.count >= 2 else { return nil }
        // Re-run the merge but stop before the final step: the two parts left are the merge.
        var tok = b.map { byteToken[Int($0)] }
        while tok.count > 2 {
            var best = UInt32.max, at = -1
            for i in 0..<(tok.count - 1) {
                if let r = pairs.get(tok[i], tok[i + 1]), r < best { best = r; at = i }
            }
            if at < 0 { return nil }
            tok[at] = best
            tok.remove(at: at + 1)
        }
        guard tok.count == 2, pairs.get(tok[0], tok[1]) == id else { return nil }
        return (tok[0], tok[1])
    }
}
