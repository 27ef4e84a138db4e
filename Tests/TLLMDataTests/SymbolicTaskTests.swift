import XCTest
import TLLMCore
import TLLMData

/// The symbolic in-context-learning generators: the answer is always in the sequence's own
/// context, maps are fresh per sequence, and the same seed gives the same sequences.
final class SymbolicTaskTests: XCTestCase {
    let v = SymbolicVocabulary()

    func testRecallAnswersAreInTheContext() {
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<50 {
            let s = SymbolicTask.recall(pairs: 6, queries: 4).sample(v, rng: &rng)
            XCTAssertEqual(s.tokens.count, SymbolicTask.recall(pairs: 6, queries: 4).length)
            XCTAssertEqual(s.queries.count, 4)
            let sep = s.tokens.firstIndex(of: SymbolicVocabulary.separator)!
            XCTAssertEqual(sep, 13)
            var map: [Int32: Int32] = [:]
            for i in stride(from: 1, to: sep, by: 2) { map[s.tokens[i]] = s.tokens[i + 1] }
            XCTAssertEqual(map.count, 6, "keys of one sequence are distinct")
            for q in s.queries {
                XCTAssertGreaterThan(q, sep)
                XCTAssertEqual(s.targets[q], map[s.tokens[q]], "a query's answer is the value its key had in context")
                XCTAssertEqual(s.tokens[q + 1], s.targets[q])
            }
            XCTAssertEqual(s.queries, s.targets.indices.filter { s.targets[$0] != SymbolicSequence.ignored })
        }
    }

    func testMapsAreFreshAndSeeded() {
        var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
        let xs = (0..<20).map { _ in SymbolicTask.recall(pairs: 4, queries: 4).sample(v, rng: &a) }
        let ys = (0..<20).map { _ in SymbolicTask.recall(pairs: 4, queries: 4).sample(v, rng: &b) }
        XCTAssertEqual(xs, ys)
        // The value of key k varies between sequences: no fixed map to memorize.
        var valuesOfKey: [Int32: Set<Int32>] = [:]
        var r = RandomGenerator(seed: 1)
        for _ in 0..<400 {
            let s = SymbolicTask.recall(pairs: 8, queries: 8).sample(v, rng: &r)
            for i in stride(from: 1, to: 17, by: 2) { valuesOfKey[s.tokens[i], default: []].insert(s.tokens[i + 1]) }
        }
        XCTAssertGreaterThan(valuesOfKey.values.map(\.count).min()!, 10)
    }

    func testInductionSequencesRepeat() {
        var rng = RandomGenerator(seed: 5)
        let periodic = SymbolicTask.induction(length: 33, period: 16).sample(v, rng: &rng)
        for i in 17..<33 { XCTAssertEqual(periodic.tokens[i], periodic.tokens[i - 16]) }
        XCTAssertEqual(periodic.targets[5], periodic.tokens[6])
        for _ in 0..<50 {
            let s = SymbolicTask.induction(length: 64).sample(v, rng: &rng)
            // Some segment of ≥ 15 symbols occurs twice.
            let t = s.tokens
            var found = false
            outer: for a in 1..<t.count { for b in (a + 1)..<t.count where b + 15 <= t.count && a + 15 <= b {
                if Array(t[a..<(a + 15)]) == Array(t[b..<(b + 15)]) { found = true; break outer }
            } }
            XCTAssertTrue(found)
        }
    }

    func testLabelShotsUseFreshLabels() {
        var rng = RandomGenerator(seed: 2)
        var queryLabels: [Int32: Set<Int32>] = [:]
        for _ in 0..<300 {
            let s = SymbolicTask.labelShots(shots: 3).sample(v, rng: &rng)
            XCTAssertEqual(s.tokens.count, 14)
            XCTAssertEqual(s.queries, [13])
            let query = s.tokens[13], answer = s.targets[13]
            XCTAssertTrue(query >= v.item(0) && query < v.item(v.items))
            var shown: [Int32] = [], other: [Int32] = []
            for i in stride(from: 1, to: 13, by: 2) {
                if s.tokens[i] == query { shown.append(s.tokens[i + 1]) } else { other.append(s.tokens[i + 1]) }
            }
            XCTAssertEqual(shown, [answer, answer, answer], "the query item appears k times with its label")
            XCTAssertEqual(other.count, 3)
            XCTAssertFalse(other.contains(answer), "the distractor's label differs")
            queryLabels[query, default: []].insert(answer)
        }
        XCTAssertGreaterThan(queryLabels.values.map(\.count).max()!, 2, "labels are drawn fresh per sequence")
    }

    func testBurstySequencesRepeatItemsAndUniformRarelyDo() {
        var rng = RandomGenerator(seed: 4)
        var burstyDistinct = 0, uniformDistinct = 0
        for _ in 0..<100 {
            let b = SymbolicTask.labels(lines: 17, distribution: .bursty).sample(v, rng: &rng)
            let u = SymbolicTask.labels(lines: 17, distribution: .uniform).sample(v, rng: &rng)
            burstyDistinct += Set(stride(from: 1, to: 35, by: 2).map { b.tokens[$0] }).count
            uniformDistinct += Set(stride(from: 1, to: 35, by: 2).map { u.tokens[$0] }).count
            // Within a sequence an item keeps its label.
            var labelOf: [Int32: Int32] = [:]
            for i in stride(from: 1, to: 35, by: 2) {
                if let l = labelOf[b.tokens[i]] { XCTAssertEqual(l, b.tokens[i + 1]) }
                labelOf[b.tokens[i]] = b.tokens[i + 1]
            }
        }
        XCTAssertLessThanOrEqual(burstyDistinct, 100 * v.burstyItems)
        XCTAssertGreaterThan(burstyDistinct, 100 * (v.burstyItems - 1))
        XCTAssertGreaterThan(uniformDistinct, 1600)
    }

    /// With `shareRecallTokens`, label mapping writes items as recall's keys and labels as its
    /// values (nothing from its own ranges), keeps an item's label within a sequence, reads the
    /// flag from JSON, and refuses an item or label set larger than the keys or values.
    func testLabelMappingCanShareRecallsTokens() throws {
        var shared = try JSONDecoder().decode(SymbolicVocabulary.self, from: Data(#"{"items": 64, "heldOutItems": 8, "shareRecallTokens": true}"#.utf8))
        XCTAssertTrue(shared.shareRecallTokens)
        XCTAssertNoThrow(try shared.validate())
        XCTAssertEqual(shared.item(5), shared.key(5)); XCTAssertEqual(shared.label(3), shared.value(3))
        let keys = Set((0..<shared.keys).map(shared.key)), values = Set((0..<shared.values).map(shared.value))
        var rng = RandomGenerator(seed: 5)
        for task in [SymbolicTask.labels(lines: 17, distribution: .bursty), .labelShots(shots: 4)] {
            let s = task.sample(shared, rng: &rng)
            var labelOf: [Int32: Int32] = [:]
            for i in stride(from: 1, to: s.tokens.count - 1, by: 2) {
                XCTAssertTrue(keys.contains(s.tokens[i]), "item \(shared.name(s.tokens[i])) is a key")
                XCTAssertTrue(values.contains(s.tokens[i + 1]), "label \(shared.name(s.tokens[i + 1])) is a value")
                if let l = labelOf[s.tokens[i]] { XCTAssertEqual(l, s.tokens[i + 1]) }
                labelOf[s.tokens[i]] = s.tokens[i + 1]
            }
        }
        XCTAssertNotEqual(v.item(5), v.key(5), "off by default")
        shared.items = shared.keys + 1
        XCTAssertThrowsError(try shared.validate())
    }
}
