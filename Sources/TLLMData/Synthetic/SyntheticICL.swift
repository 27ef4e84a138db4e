import Foundation
import TLLMCore

/// Synthetic sequences that can only be solved from context, for studying in-context learning
/// (`tllm train --corpus synthetic:icl`, and the `evals/icl-*` tasks built from the same generator):
///
/// - **label mapping** (Chan et al. 2022, bursty): an episode assigns each of a few nonce items a
///   random label; lines `item: label` repeat items, so a later line's label can be read off an
///   earlier one. The assignment changes every episode.
/// - **associative recall**: `recall: k1 v1 k2 v2 … | kq` followed by `vq`, a fresh random map
///   per sequence.
/// - **induction**: a random run of words and then the same run again: the second copy is
///   predictable only by copying.
public enum SyntheticICL {
    /// Nonce items: consonant–vowel pairs (e.g. "bako").
    public static let items: [String] = {
        let c = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
        let v = ["a", "e", "i", "o", "u"]
        var out: [String] = []
        for a in c { for x in v { for b in ["b", "k", "m", "r", "t"] { for y in ["a", "o"] { out.append(a + x + b + y) } } } }
        return out  // 700 items
    }()
    public static let labels = ["red", "blue", "green", "gold"]
    public static let recallKeys: [String] = Array(items.prefix(200))
    public static let digits = (0..<10).map(String.init)
    /// Words for induction runs.
    public static let words: [String] = Array(items.suffix(300))

    /// One label-mapping episode: `k` distinct items, their labels, and `lines` (item, label) pairs
    /// with bursty repetition.
    public static func labelEpisode(_ rng: inout RandomGenerator, distinctItems k: Int = 5, lines n: Int = 16) -> [(String, String)] {
        var pool = items
        rng.shuffle(&pool)
        let chosen = Array(pool.prefix(k))
        let mapping = Dictionary(uniqueKeysWithValues: chosen.map { ($0, labels[rng.nextInt(below: labels.count)]) })
        return (0..<n).map { _ in let it = chosen[rng.nextInt(below: k)]; return (it, mapping[it]!) }
    }

    /// One associative-recall line: `pairs` key–value pairs and a query key (one of them).
    public static func recallEpisode(_ rng: inout RandomGenerator, pairs n: Int = 6) -> (pairs: [(String, String)], query: String, answer: String) {
        var keys = recallKeys
        rng.shuffle(&keys)
        let ps = (0..<n).map { (keys[$0], digits[rng.nextInt(below: 10)]) }
        let q = ps[rng.nextInt(below: n)]
        return (ps, q.0, q.1)
    }

    /// A random run of `n` words.
    public static func inductionRun(_ rng: inout RandomGenerator, length n: Int = 24) -> [String] {
        (0..<n).map { _ in words[rng.nextInt(below: words.count)] }
    }

    static func text(labelEpisode e: [(String, String)]) -> String { e.map { "\($0.0): \($0.1)" }.joined(separator: "\n") }
    static func text(recall r: (pairs: [(String, String)], query: String, answer: String)) -> String {
        "recall: " + r.pairs.map { "\($0.0) \($0.1)" }.joined(separator: " ") + " | \(r.query) \(r.answer)"
    }

    /// The training corpus: `documents` documents of `episodesPerDocument` episodes, the three kinds
    /// mixed, episodes separated by blank lines.
    public static func corpus(seed: UInt64 = 2024, documents: Int = 600, episodesPerDocument: Int = 40) -> Corpus {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("synthetic:icl"))
        var docs: [Corpus.Document] = []
        for d in 0..<documents {
            var parts: [String] = []
            for _ in 0..<episodesPerDocument {
                switch rng.nextInt(below: 3) {
                case 0: parts.append(text(labelEpisode: labelEpisode(&rng, distinctItems: 3 + rng.nextInt(below: 4), lines: 8 + rng.nextInt(below: 12))))
                case 1: parts.append((0..<4).map { _ in text(recall: recallEpisode(&rng, pairs: 3 + rng.nextInt(below: 6))) }.joined(separator: "\n"))
                default:
                    let run = inductionRun(&rng, length: 8 + rng.nextInt(below: 24)).joined(separator: " ")
                    parts.append("\(run) \(run)")
                }
            }
            let t = Array((parts.joined(separator: "\n\n") + "\n").utf8)
            docs.append(Corpus.Document(name: "synthetic-\(d)", text: t, label: nil, segments: Corpus.paragraphs(t)))
        }
        return Corpus(name: "synthetic-icl", documents: docs, source: "synthetic:icl(seed \(seed))")
    }
}
