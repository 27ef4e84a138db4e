import Foundation
import TLLMCore

/// A vocabulary in which every symbol of the in-context-learning tasks is one token — no BPE
/// between the model and the structure of the task. Token ids, in order:
///
///     <s>  |  k0…k{K-1}  v0…v{V-1}  s0…s{S-1}  i0…i{I-1}  L0…L{C-1}
///     bos sep   keys       values    symbols     items      labels
///
/// Keys and values serve associative recall (MQAR), symbols the repeated random sequences
/// (induction), items and labels the label-mapping task; the last `heldOutItems` items never
/// appear in training and are what evaluation asks about.
public struct SymbolicVocabulary: Codable, Equatable, Sendable {
    public var keys = 64
    public var values = 64
    public var symbols = 128
    public var items = 512
    public var heldOutItems = 64
    public var labels = 8
    /// Items per bursty label-mapping sequence.
    public var burstyItems = 4
    /// Label mapping writes its items with recall's key tokens and its labels with recall's value
    /// tokens (item i is key i, label j is value j), so that a circuit formed on recall applies to
    /// it as it is. Needs `items ≤ keys` and `labels ≤ values`.
    public var shareRecallTokens = false

    public init() {}

    /// From JSON: any field left out keeps its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field(_ k: CodingKeys, _ v: inout Int) throws { if let x = try c.decodeIfPresent(Int.self, forKey: k) { v = x } }
        try field(.keys, &keys); try field(.values, &values); try field(.symbols, &symbols); try field(.items, &items)
        try field(.heldOutItems, &heldOutItems); try field(.labels, &labels); try field(.burstyItems, &burstyItems)
        shareRecallTokens = try c.decodeIfPresent(Bool.self, forKey: .shareRecallTokens) ?? false
    }

    /// Checks the sizes (each ≥ 1, labels ≥ 2, held-out items fewer than items, a bursty sequence's
    /// items among the training items).
    public func validate() throws {
        guard [keys, values, symbols, items, burstyItems].allSatisfy({ $0 >= 1 }), labels >= 2, heldOutItems >= 0, heldOutItems < items - 1,
              burstyItems <= trainingItems, size <= 1 << 20 else {
            throw TLLMError("symbolic vocabulary: needs keys, values, symbols, items, burstyItems ≥ 1, labels ≥ 2, 0 ≤ heldOutItems < items − 1, "
                            + "burstyItems ≤ items − heldOutItems, at most 2²⁰ tokens (got \(self))")
        }
        guard !shareRecallTokens || (items <= keys && labels <= values) else {
            throw TLLMError("symbolic vocabulary: shareRecallTokens needs items ≤ keys and labels ≤ values (got \(items) items, \(keys) keys, \(labels) labels, \(values) values)")
        }
    }

    public static let bos: Int32 = 0
    public static let separator: Int32 = 1
    public func key(_ i: Int) -> Int32 { Int32(2 + i) }
    public func value(_ i: Int) -> Int32 { Int32(2 + keys + i) }
    public func symbol(_ i: Int) -> Int32 { Int32(2 + keys + values + i) }
    public func item(_ i: Int) -> Int32 { shareRecallTokens ? key(i) : Int32(2 + keys + values + symbols + i) }
    public func label(_ i: Int) -> Int32 { shareRecallTokens ? value(i) : Int32(2 + keys + values + symbols + items + i) }
    public var size: Int { 2 + keys + values + symbols + items + labels }
    public var trainingItems: Int { items - heldOutItems }

    /// A readable name for a token (`<s>`, `|`, `k3`, `v12`, `s40`, `i7`, `L2`).
    public func name(_ t: Int32) -> String {
        var i = Int(t)
        if i == 0 { return "<s>" }
        if i == 1 { return "|" }
        i -= 2
        for (prefix, n) in [("k", keys), ("v", values), ("s", symbols), ("i", items), ("L", labels)] {
            if i < n { return "\(prefix)\(i)" }
            i -= n
        }
        return "?\(t)"
    }
}

/// One training or evaluation sequence: tokens and, per position, the next-token target that is
/// scored (`ignored` where nothing is).
public struct SymbolicSequence: Equatable, Sendable {
    public static let ignored: Int32 = -100
    public var tokens: [Int32]
    /// The training target at each position (`ignored` where none).
    public var targets: [Int32]
    /// The positions whose prediction the task's accuracy counts — the queries. Every position
    /// with a target unless the task says otherwise (recall also trains on the first sight of
    /// each value, which no context can predict, but is judged on its queries only).
    public var queries: [Int]

    public init(tokens: [Int32], targets: [Int32], queries: [Int]? = nil) {
        self.tokens = tokens; self.targets = targets
        self.queries = queries ?? targets.indices.filter { targets[$0] != Self.ignored }
    }
}

/// How label-mapping training sequences draw their items (Chan et al., 2022).
public enum ItemDistribution: String, Codable, Sendable, CaseIterable {
    /// A few items per sequence (`burstyItems`), each repeated: the answer to a later line is on
    /// an earlier one.
    case bursty
    /// Every line an item drawn uniformly from all training items: repeats are rare.
    case uniform
}

/// The symbolic in-context-learning tasks, all seeded through the caller's generator.
public enum SymbolicTask: Codable, Equatable, Sendable {
    /// Multi-query associative recall (Arora et al., 2023): `<s> k v k v … | k v k v …` with a
    /// fresh random key→value map per sequence; trained and judged on the values after the `|`
    /// (scoring the first sights too, which no context predicts, stalls learning at the
    /// elimination shortcut: measured, 0.52 accuracy after 5000 steps at 4 pairs).
    case recall(pairs: Int, queries: Int)
    /// Random symbols in which something repeats; every position is scored. With a `period`:
    /// `<s> r1 … rP r1 … rP …`, the run repeated to the length (the probes of the head scores).
    /// Without: one random segment of (length−1)/4 to (length−1)/2 symbols copied once to a random later
    /// place — only matching the segment's content predicts the copy (training).
    case induction(length: Int, period: Int? = nil)
    /// `<s> k v k v … k v k v …`: `pairs` random key–value pairs (a fresh map), then the same
    /// pairs again in the same order; every position is scored. The probe of the head scores
    /// for models trained on recall (the repeat is an induction test in the task's own tokens).
    case repeatedPairs(pairs: Int)
    /// `<s> i L i L …`: training items with labels drawn fresh for the sequence (so only the
    /// context can tell an item's label), the items drawn `bursty` or `uniform`; scored on the
    /// labels of repeated items (the first line of an item is a guess no context helps).
    case labels(lines: Int, distribution: ItemDistribution)
    /// Evaluation of label mapping: items with labels drawn fresh for the sequence (so only the
    /// context can tell; held-out items are not used because, with tied embeddings, the rows of
    /// never-seen items drift together in training and become hard to tell apart — measured);
    /// `shots` lines of the query item and `shots` of a distractor item (its label differs),
    /// shuffled, then the query item; scored only on its label. Targets sit at the position that
    /// predicts them (the cue), as everywhere here.
    case labelShots(shots: Int)

    /// The sequence length (tokens) of this task.
    public var length: Int {
        switch self {
        case .recall(let p, let q): return 2 + 2 * p + 2 * q
        case .induction(let n, _): return n
        case .repeatedPairs(let p): return 1 + 4 * p
        case .labels(let n, _): return 1 + 2 * n
        case .labelShots(let s): return 2 + 4 * s
        }
    }

    /// A sequence of this task.
    public func sample(_ v: SymbolicVocabulary, rng: inout RandomGenerator) -> SymbolicSequence {
        switch self {
        case .recall(let p, let q): return Self.recall(v, pairs: p, queries: q, rng: &rng)
        case .induction(let n, let p): return Self.induction(v, length: n, period: p, rng: &rng)
        case .repeatedPairs(let p): return Self.repeatedPairs(v, pairs: p, rng: &rng)
        case .labels(let n, let d): return Self.labels(v, lines: n, distribution: d, rng: &rng)
        case .labelShots(let s): return Self.labelShots(v, shots: s, rng: &rng)
        }
    }

    // MARK: - Generators

    static func recall(_ v: SymbolicVocabulary, pairs p: Int, queries q: Int, rng: inout RandomGenerator) -> SymbolicSequence {
        precondition(p <= v.keys && q <= p, "recall: \(p) pairs, \(q) queries, \(v.keys) keys")
        let keys = Array(rng.permutation(v.keys).prefix(p))
        let vals = keys.map { _ in rng.nextInt(below: v.values) }
        var tokens: [Int32] = [SymbolicVocabulary.bos], targets: [Int32] = [SymbolicSequence.ignored]
        for (k, x) in zip(keys, vals) {
            tokens += [v.key(k), v.value(x)]; targets += [SymbolicSequence.ignored, SymbolicSequence.ignored]
        }
        tokens.append(SymbolicVocabulary.separator); targets.append(SymbolicSequence.ignored)
        var queries: [Int] = []
        for j in rng.permutation(p).prefix(q) {
            queries.append(tokens.count)
            tokens += [v.key(keys[j]), v.value(vals[j])]
            targets += [v.value(vals[j]), SymbolicSequence.ignored]
        }
        return SymbolicSequence(tokens: tokens, targets: targets, queries: queries)
    }

    static func induction(_ v: SymbolicVocabulary, length n: Int, period: Int?, rng: inout RandomGenerator) -> SymbolicSequence {
        var tokens: [Int32] = [SymbolicVocabulary.bos] + (0..<(n - 1)).map { _ in v.symbol(rng.nextInt(below: v.symbols)) }
        if let p = period {
            for i in (1 + p)..<n { tokens[i] = tokens[i - p] }                  // a run repeated with period p
        } else {
            // One segment copied once, at random places and length: nothing but matching its
            // content predicts the copy (no fixed offset, no period to read off).
            let lo = max(2, (n - 1) / 4), hi = (n - 1) / 2
            let len = lo + rng.nextInt(below: hi - lo + 1)
            let a = 1 + rng.nextInt(below: n - 2 * len)
            let b = a + len + rng.nextInt(below: n - a - 2 * len + 1)
            for k in 0..<len { tokens[b + k] = tokens[a + k] }
        }
        var targets = Array(tokens.dropFirst()) + [SymbolicSequence.ignored]
        targets[0] = SymbolicSequence.ignored              // <s> → the first symbol: nothing to learn
        return SymbolicSequence(tokens: tokens, targets: targets)
    }

    static func repeatedPairs(_ v: SymbolicVocabulary, pairs p: Int, rng: inout RandomGenerator) -> SymbolicSequence {
        let keys = Array(rng.permutation(v.keys).prefix(p))
        let run = keys.flatMap { [v.key($0), v.value(rng.nextInt(below: v.values))] }
        let tokens = [SymbolicVocabulary.bos] + run + run
        var targets = Array(tokens.dropFirst()) + [SymbolicSequence.ignored]
        targets[0] = SymbolicSequence.ignored
        return SymbolicSequence(tokens: tokens, targets: targets)
    }

    static func labels(_ v: SymbolicVocabulary, lines n: Int, distribution: ItemDistribution, rng: inout RandomGenerator) -> SymbolicSequence {
        let chosen: [Int]
        switch distribution {
        case .bursty:
            let few = Array(rng.permutation(v.trainingItems).prefix(v.burstyItems))
            chosen = (0..<n).map { _ in few[rng.nextInt(below: few.count)] }
        case .uniform:
            chosen = (0..<n).map { _ in rng.nextInt(below: v.trainingItems) }
        }
        var labelOf: [Int: Int] = [:]                        // drawn fresh for this sequence
        var tokens: [Int32] = [SymbolicVocabulary.bos], targets: [Int32] = [SymbolicSequence.ignored]
        for it in chosen {
            let seen = labelOf[it]
            let l = seen ?? rng.nextInt(below: v.labels)
            labelOf[it] = l
            tokens += [v.item(it), v.label(l)]
            // An item's first line is a guess no context helps; scoring it stalls learning (as
            // first sights do in recall), so only repeats are targets.
            targets += [seen == nil ? SymbolicSequence.ignored : v.label(l), SymbolicSequence.ignored]
        }
        return SymbolicSequence(tokens: tokens, targets: targets)
    }

    static func labelShots(_ v: SymbolicVocabulary, shots s: Int, rng: inout RandomGenerator) -> SymbolicSequence {
        let a = rng.nextInt(below: v.trainingItems)
        var b = rng.nextInt(below: v.trainingItems - 1)
        if b >= a { b += 1 }
        let la = rng.nextInt(below: v.labels)
        var lb = rng.nextInt(below: v.labels - 1)
        if lb >= la { lb += 1 }
        var lines = [(Int, Int)](repeating: (a, la), count: s) + [(Int, Int)](repeating: (b, lb), count: s)
        rng.shuffle(&lines)
        var tokens: [Int32] = [SymbolicVocabulary.bos]
        for (it, l) in lines { tokens += [v.item(it), v.label(l)] }
        tokens.append(v.item(a))
        var targets = [Int32](repeating: SymbolicSequence.ignored, count: tokens.count)
        targets[tokens.count - 1] = v.label(la)
        return SymbolicSequence(tokens: tokens, targets: targets)
    }
}
