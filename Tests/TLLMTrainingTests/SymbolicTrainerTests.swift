import XCTest
import TLLMCore
import TLLMData
import TLLMTraining

/// A tiny attention-only model learns associative recall from its context alone (held-out
/// sequences, fresh maps), and its best head becomes an induction-like head doing it.
final class SymbolicTrainerTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func testTinyAttentionOnlyModelLearnsRecallInContext() throws {
        var plan = SymbolicTrainer.Plan(name: "test", tasks: [.recall(pairs: 2, queries: 2)], evaluation: .recall(pairs: 2, queries: 2))
        plan.probe = .recall(pairs: 2, queries: 2)
        plan.layers = 2; plan.dModel = 64; plan.heads = 2
        plan.steps = 4000; plan.recordEvery = 500; plan.batch = 32
        let records = try SymbolicTrainer(plan: plan).train()      // ≈ 12 s on 2 cores; the head forms near step 2500
        let first = records.first!, last = records.last!
        // Guessing one of the two values in context scores 0.5 (the second query 1 by
        // elimination: 0.75); only reading the key → value map scores near 1.
        XCTAssertLessThan(first.accuracy, 0.1)
        XCTAssertGreaterThan(last.accuracy, 0.85)
        XCTAssertGreaterThan(last.maxPrefixMatching, first.maxPrefixMatching + 0.4, "a head attends to the value after the earlier key")
        XCTAssertLessThan(last.iclScore, first.iclScore - 3, "queries become easier than a context-free guess")
    }

    func testSymbolicTrainingIsDeterministic() throws {
        var plan = SymbolicTrainer.Plan(name: "test", tasks: [.recall(pairs: 2, queries: 2), .induction(length: 10)],
                                        evaluation: .recall(pairs: 2, queries: 2))
        plan.layers = 1; plan.dModel = 16; plan.heads = 2; plan.steps = 60; plan.recordEvery = 30
        let a = try SymbolicTrainer(plan: plan).train(), b = try SymbolicTrainer(plan: plan).train()
        XCTAssertEqual(a.map(\.loss).dropFirst(), b.map(\.loss).dropFirst())
        XCTAssertEqual(a.map(\.maxPrefixMatching), b.map(\.maxPrefixMatching))
        plan.seed = 2
        let c = try SymbolicTrainer(plan: plan).train()
        XCTAssertNotEqual(a.last!.loss, c.last!.loss)
    }
}
