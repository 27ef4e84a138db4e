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

    /// A plan file names only what it changes; stages run in order; tasks of different lengths
    /// share batches (padding at the end changes nothing a causal model computes before it).
    func testPlansFromJSONStagesAndMixedLengths() throws {
        let json = """
        {"name": "mixed", "tasks": [{"recall": {"pairs": 2, "queries": 2}}, {"labels": {"lines": 4, "distribution": "bursty"}}],
         "steps": 30, "then": [{"tasks": [{"labels": {"lines": 9, "distribution": "uniform"}}], "steps": 20}],
         "evaluation": {"labelShots": {"shots": 2}}, "probe": {"labelShots": {"shots": 2}}, "layers": 1, "dModel": 16, "recordEvery": 25, "vocabulary": {"items": 40, "heldOutItems": 4}}
        """
        let plan = try JSONDecoder().decode(SymbolicTrainer.Plan.self, from: Data(json.utf8))
        XCTAssertEqual(plan.heads, 2); XCTAssertEqual(plan.batch, 32); XCTAssertEqual(plan.vocabulary.labels, 8)  // defaults kept
        XCTAssertEqual(plan.vocabulary.items, 40); XCTAssertEqual(plan.totalSteps, 50)
        XCTAssertEqual(plan.tasks(atStep: 30), plan.tasks); XCTAssertEqual(plan.tasks(atStep: 31), [.labels(lines: 9, distribution: .uniform)])
        XCTAssertEqual(plan.modelConfig.context, 19, "the longest task of any stage")
        let records = try SymbolicTrainer(plan: plan).train()
        XCTAssertEqual(records.map(\.step), [0, 25, 50])
        XCTAssertTrue(records.dropFirst().allSatisfy { $0.loss.isFinite })
        // Bad plans: an empty stage, a vocabulary with one label, a missing field.
        var bad = plan
        bad.then = [.init(tasks: [], steps: 5)]
        XCTAssertThrowsError(try SymbolicTrainer(plan: bad))
        bad = plan
        bad.vocabulary.labels = 1
        XCTAssertThrowsError(try SymbolicTrainer(plan: bad))
        XCTAssertThrowsError(try JSONDecoder().decode(SymbolicTrainer.Plan.self, from: Data(#"{"name": "x", "tasks": []}"#.utf8)))
    }

    /// A stage with `untilLoss` ends at the first record whose mean loss is below it (the next
    /// stage then runs its steps), and runs its full steps when the loss never gets there; a
    /// non-positive threshold is refused.
    func testAStageCanEndOnALossThreshold() throws {
        let json = """
        {"name": "until", "tasks": [{"recall": {"pairs": 2, "queries": 2}}], "steps": 200, "untilLoss": 1000,
         "then": [{"tasks": [{"labels": {"lines": 4, "distribution": "bursty"}}], "steps": 20}],
         "evaluation": {"labelShots": {"shots": 2}}, "probe": {"labelShots": {"shots": 2}}, "layers": 1, "dModel": 16, "recordEvery": 10, "vocabulary": {"items": 40, "heldOutItems": 4}}
        """
        var plan = try JSONDecoder().decode(SymbolicTrainer.Plan.self, from: Data(json.utf8))
        XCTAssertEqual(plan.untilLoss, 1000)
        XCTAssertEqual(try SymbolicTrainer(plan: plan).train().map(\.step), [0, 10, 20, 30], "stage 1 ends at its first record")
        plan.untilLoss = 1e-9                                              // never reached: all of its steps (30), then 20
        plan.steps = 30
        XCTAssertEqual(try SymbolicTrainer(plan: plan).train().last?.step, 50)
        plan.untilLoss = 0
        XCTAssertThrowsError(try SymbolicTrainer(plan: plan))
    }
}
