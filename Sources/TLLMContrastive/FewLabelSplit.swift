import Foundation
import TLLMCore

/// A seeded, stratified split for few-label evaluation: a held-out test set (a fraction of every
/// class) and a training pool whose labels are hidden from contrastive training and revealed
/// n per class to the probe.
public struct FewLabelSplit: Sendable {
    public let test: [Int]
    public let pool: [Int]
    let labels: [Int]

    public init(labels: [Int], testFraction: Double = 0.3, seed: UInt64 = 0) {
        self.labels = labels
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("few-label-split"))
        var test: [Int] = [], pool: [Int] = []
        for c in Set(labels).sorted() {
            var members = labels.indices.filter { labels[$0] == c }
            rng.shuffle(&members)
            let t = Int((Double(members.count) * testFraction).rounded())
            test += members.prefix(t); pool += members.dropFirst(t)
        }
        self.test = test.sorted(); self.pool = pool.sorted()
    }

    /// `n` labelled pool samples per class (0: the whole pool), drawn with `seed`.
    public func labelled(perClass n: Int, seed: UInt64) -> [Int] {
        guard n > 0 else { return pool }
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("few-label-choice"))
        var order = pool
        rng.shuffle(&order)
        return Set(labels).sorted().flatMap { c in order.filter { labels[$0] == c }.prefix(n) }
    }
}
