import Foundation
import TLLMCore
import TLLMData
import TLLMModels

/// A small GPT trained on the symbolic in-context-learning tasks, with the mechanistic scores
/// recorded as it learns: the loss, task accuracy on held-out sequences (fresh maps), the
/// in-context-learning score, and the best head's prefix-matching score on repeated random runs.
///
/// Every training sequence is drawn fresh from a seeded stream (no epochs), the tasks of the
/// mixture with equal probability; all tasks of a run share one length.
public final class SymbolicTrainer {
    /// What to train and how.
    public struct Plan: Codable, Sendable {
        public var name: String
        public var layers = 2
        public var dModel = 64
        public var heads = 2
        public var attentionOnly = true
        /// Learned absolute positions (GPT-2's) or rotary ones.
        public var positions = ModelConfig.Positions.learned
        public var tasks: [SymbolicTask]
        /// The task whose accuracy is tracked (held-out sequences, fresh maps).
        public var evaluation: SymbolicTask
        public var steps = 2000
        public var batch = 32
        public var learningRate: Float = 1e-3
        public var warmup = 100
        public var weightDecay: Float = 0
        public var seed: UInt64 = 1
        /// Scores are recorded every this many steps (and at the end).
        public var recordEvery = 50
        /// The sequences the head scores and ICL score are measured on (16 of them): repeated
        /// random runs by default. For recall (or label-shot) probes, prefix matching is
        /// measured at the scored positions only (each query key → the value after its earlier
        /// occurrence), the ICL score on the whole sequence.
        public var probe: SymbolicTask = .induction(length: 33, period: 16)
        public var vocabulary = SymbolicVocabulary()
        /// Later stages (a curriculum): after `steps` steps on `tasks`, each stage trains on its
        /// own tasks for its steps; one learning-rate schedule spans them all (at their most steps).
        public var then: [Stage] = []
        /// The first stage ends early once the mean training loss between two records falls below
        /// this (then `steps` is the most it runs): for a stage that must last until a circuit forms.
        public var untilLoss: Double? = nil

        /// A stage of a curriculum (`untilLoss`: as the plan's, for this stage).
        public struct Stage: Codable, Sendable {
            public var tasks: [SymbolicTask]
            public var steps: Int
            public var untilLoss: Double?
            public init(tasks: [SymbolicTask], steps: Int, untilLoss: Double? = nil) { self.tasks = tasks; self.steps = steps; self.untilLoss = untilLoss }
        }

        /// Stage `i` (0: the plan's own tasks and steps) as (tasks, most steps, loss that ends it).
        func stage(_ i: Int) -> (tasks: [SymbolicTask], steps: Int, untilLoss: Double?) {
            i == 0 ? (tasks, steps, untilLoss) : (then[i - 1].tasks, then[i - 1].steps, then[i - 1].untilLoss)
        }

        /// Steps over all stages.
        public var totalSteps: Int { steps + then.reduce(0) { $0 + $1.steps } }

        /// Every task of every stage.
        public var allTasks: [SymbolicTask] { tasks + then.flatMap(\.tasks) }

        /// The tasks trained at `step` (1-based) when every stage runs all of its steps (no
        /// `untilLoss` reached).
        public func tasks(atStep step: Int) -> [SymbolicTask] {
            var end = 0
            for i in 0...then.count {
                end += stage(i).steps
                if step <= end { return stage(i).tasks }
            }
            return stage(then.count).tasks
        }

        public init(name: String, tasks: [SymbolicTask], evaluation: SymbolicTask) {
            self.name = name; self.tasks = tasks; self.evaluation = evaluation
        }

        /// From JSON: `name`, `tasks` and `evaluation` are required, every other field has the
        /// default above (a plan file names only what it changes).
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(name: try c.decode(String.self, forKey: .name), tasks: try c.decode([SymbolicTask].self, forKey: .tasks),
                      evaluation: try c.decode(SymbolicTask.self, forKey: .evaluation))
            func field<T: Decodable>(_ k: CodingKeys, _ v: inout T) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
            try field(.layers, &layers); try field(.dModel, &dModel); try field(.heads, &heads)
            try field(.attentionOnly, &attentionOnly); try field(.positions, &positions); try field(.steps, &steps); try field(.batch, &batch)
            try field(.learningRate, &learningRate); try field(.warmup, &warmup); try field(.weightDecay, &weightDecay)
            try field(.seed, &seed); try field(.recordEvery, &recordEvery); try field(.probe, &probe); try field(.vocabulary, &vocabulary)
            try field(.then, &then); untilLoss = try c.decodeIfPresent(Double.self, forKey: .untilLoss)
        }

        public var modelConfig: ModelConfig {
            // Label-shot probes get their answer appended (see `init`), one token longer.
            var probeLength = probe.length
            if case .labelShots = probe { probeLength += 1 }
            let T = max(allTasks.map(\.length).max() ?? 1, evaluation.length, probeLength)
            var c = ModelConfig(vocabSize: vocabulary.size, context: T, layers: layers, dModel: dModel, heads: heads)
            c.attentionOnly = attentionOnly
            c.positions = positions
            return c
        }
    }

    /// One row of the training record.
    public struct Record: Codable, Sendable {
        public var step: Int
        /// Mean training loss since the previous record.
        public var loss: Double
        public var accuracy: Double
        public var iclScore: Double
        public var maxPrefixMatching: Double
        /// `layer.head` of the best prefix-matching head.
        public var bestHead: String
    }

    public let plan: Plan
    public let model: GPTModel
    let evaluationSet: [SymbolicSequence]
    let probes: [[Int32]]
    let probePositions: [[Int]]?
    /// Per probe: positions whose target is unpredictable from context (early) and predictable
    /// from it (late); the ICL score is the mean loss at the late ones minus the early ones.
    let probeEarly: [[Int]], probeLate: [[Int]]
    /// The early-token loss when no early position is trained (recall): the loss of the
    /// context-free guess, uniform over the values (ln 64).
    let earlyBaseline: Double?

    public init(plan: Plan) throws {
        guard !plan.tasks.isEmpty, plan.steps >= 1, plan.recordEvery >= 1, plan.batch >= 1, plan.learningRate > 0,
              plan.then.allSatisfy({ !$0.tasks.isEmpty && $0.steps >= 1 }),
              ([plan.untilLoss] + plan.then.map(\.untilLoss)).allSatisfy({ $0.map { $0.isFinite && $0 > 0 } ?? true }) else {
            throw TLLMError("symbolic training: needs at least one task and steps, recordEvery, batch ≥ 1, a positive learning rate, untilLoss > 0")
        }
        try plan.vocabulary.validate()
        guard plan.layers >= 1, plan.heads >= 1, plan.dModel >= plan.heads, plan.dModel % plan.heads == 0, plan.dModel <= 4096, plan.layers <= 64,
              plan.learningRate.isFinite, plan.totalSteps <= 10_000_000 else {
            throw TLLMError("symbolic training: needs 1 ≤ layers ≤ 64, heads ≥ 1 dividing dModel ≤ 4096, a finite learning rate, steps ≤ 10⁷")
        }
        if case .recall(let p, let q) = plan.evaluation, p > plan.vocabulary.keys || q > p {
            throw TLLMError("symbolic training: recall with \(p) pairs and \(q) queries needs pairs ≤ \(plan.vocabulary.keys) keys and queries ≤ pairs")
        }
        for case .recall(let p, let q) in plan.allTasks + [plan.probe] where p > plan.vocabulary.keys || q > p {
            throw TLLMError("symbolic training: recall with \(p) pairs and \(q) queries needs pairs ≤ \(plan.vocabulary.keys) keys and queries ≤ pairs")
        }
        self.plan = plan
        model = try GPTModel(configuration: plan.modelConfig, seed: plan.seed)
        var rng = RandomGenerator(seed: plan.seed, stream: RandomGenerator.streamID("symbolic-evaluation"))
        evaluationSet = (0..<256).map { _ in plan.evaluation.sample(plan.vocabulary, rng: &rng) }
        let probeSet = (0..<16).map { _ in plan.probe.sample(plan.vocabulary, rng: &rng) }
        // A probe whose last position is scored (label shots end on the query item) gets its
        // answer appended, so that next-token losses cover it.
        let context = plan.modelConfig.context
        probes = probeSet.map { s in
            if let last = s.targets.last, last != SymbolicSequence.ignored, s.tokens.count < context { return s.tokens + [last] }
            return s.tokens
        }
        let scored = probeSet.map(\.queries)
        switch plan.probe {
        case .recall:
            probePositions = scored
            // Recall trains on the queries only (scoring first sights as well stalls learning
            // at the elimination shortcut), so the model's output at a first sight is untrained
            // and its loss meaningless: the early loss is the context-free guess, ln(values).
            probeEarly = probeSet.map { _ in [] }
            probeLate = scored
            earlyBaseline = log(Double(plan.vocabulary.values))
        case .labelShots:
            // Label training scores repeated items only, so first lines are untrained too: the
            // early loss is the context-free guess, ln(labels).
            probePositions = scored
            probeEarly = probeSet.map { _ in [] }
            probeLate = scored
            earlyBaseline = log(Double(plan.vocabulary.labels))
        case .induction(let n, let period):
            let p = period ?? (n - 1) / 2
            probePositions = nil
            probeEarly = probeSet.map { _ in Array(1..<p) }                             // inside the first run
            probeLate = probeSet.map { _ in Array((p + 1)..<(n - 1)) }                  // the repeat
            earlyBaseline = nil
        default:
            probePositions = nil
            probeEarly = probeSet.map { s in Array(0..<(s.tokens.count / 2)) }
            probeLate = probeSet.map { s in Array((s.tokens.count / 2)..<(s.tokens.count - 1)) }
            earlyBaseline = nil
        }
    }

    /// Trains every stage (each for its steps, or until its `untilLoss`), returning the record (one
    /// row per `recordEvery` steps and one at the end).
    public func train(progress: ((Record) -> Void)? = nil) -> [Record] {
        let p = plan
        let optimizer = AdamW(groups: ParameterGroup.standard(model.parameters, weightDecay: p.weightDecay),
                              learningRate: p.learningRate, beta1: 0.9, beta2: 0.98)
        let schedule = WarmupCosineSchedule(peak: p.learningRate, minimum: p.learningRate / 10, warmupSteps: p.warmup, totalSteps: p.totalSteps)
        var rng = RandomGenerator(seed: p.seed, stream: RandomGenerator.streamID("symbolic-training"))
        // Tasks of different lengths share a batch: shorter sequences are padded at the end with
        // separators whose targets are ignored (the model is causal, so padding changes nothing
        // before it).
        let T = p.allTasks.map(\.length).max()!
        var records = [measure(step: 0, loss: .nan)]
        progress?(records[0])
        var window = 0.0, count = 0
        var stage = 0, stageStart = 0, step = 0                  // the stage being trained, and the step before it began
        while stage <= p.then.count {
            step += 1
            let current = p.stage(stage)
            var ids: [Int32] = [], targets: [Int32] = []
            ids.reserveCapacity(p.batch * T); targets.reserveCapacity(p.batch * T)
            for _ in 0..<p.batch {
                let task = current.tasks[rng.nextInt(below: current.tasks.count)]
                let s = task.sample(p.vocabulary, rng: &rng)
                ids += s.tokens; targets += s.targets
                if s.tokens.count < T {
                    ids += [Int32](repeating: SymbolicVocabulary.separator, count: T - s.tokens.count)
                    targets += [Int32](repeating: SymbolicSequence.ignored, count: T - s.tokens.count)
                }
            }
            optimizer.learningRate = schedule.learningRate(at: step - 1)
            let loss = model.loss(ids, targets: targets, batch: p.batch, length: T, context: .training(rng: nil))
            window += Double(loss.item); count += 1
            loss.backward()
            GradientClipping.clip(model.parameters, maxNorm: 1)
            optimizer.step()
            optimizer.zeroGrad()
            let recordNow = step % p.recordEvery == 0
            let meanLoss = window / Double(count)
            if step - stageStart == current.steps || (recordNow && meanLoss < current.untilLoss ?? -.infinity) {
                stage += 1; stageStart = step
            }
            if recordNow || stage > p.then.count {                        // every recordEvery steps, and at the end
                let r = measure(step: step, loss: meanLoss)
                records.append(r)
                progress?(r)
                window = 0; count = 0
            }
        }
        return records
    }

    /// Scores now: accuracy on the held-out set, ICL score and head scores on the probes.
    public func measure(step: Int, loss: Double) -> Record {
        let heads = HeadAnalysis.scores(model, sequences: probes, positions: probePositions)
        let best = heads.max { $0.prefixMatching < $1.prefixMatching }!
        let losses = probes.map { HeadAnalysis.losses(model, tokens: $0) }
        let icl = HeadAnalysis.inContextScore(losses: losses, early: probeEarly, late: probeLate) - (earlyBaseline ?? 0)
        return Record(step: step, loss: loss, accuracy: accuracy(evaluationSet), iclScore: icl,
                      maxPrefixMatching: best.prefixMatching, bestHead: "\(best.layer).\(best.head)")
    }

    /// Share of scored positions whose argmax is the target.
    public func accuracy(_ set: [SymbolicSequence]) -> Double {
        let T = set[0].tokens.count, V = model.config.vocabSize
        var right = 0, total = 0
        Autograd.withNoGrad {
            for start in stride(from: 0, to: set.count, by: 64) {
                let chunk = set[start..<min(set.count, start + 64)]
                let ids = chunk.flatMap(\.tokens), targets = chunk.flatMap(\.targets)
                let positions = chunk.enumerated().flatMap { k, s in s.queries.map { k * T + $0 } }
                let logits = model.logits(ids, batch: chunk.count, length: T, at: positions.map(Int32.init))   // [P, V]
                for (r, pos) in positions.enumerated() {
                    let row = logits.data + r * V
                    var best = 0
                    for j in 1..<V where row[j] > row[best] { best = j }
                    if Int32(best) == targets[pos] { right += 1 }
                    total += 1
                }
            }
        }
        return total == 0 ? 0 : Double(right) / Double(total)
    }

    /// Accuracy on fresh sequences of another task (for example label mapping at k shots).
    public func accuracy(on task: SymbolicTask, count: Int = 256, seed: UInt64 = 99) -> Double {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("symbolic-probe"))
        return accuracy((0..<count).map { _ in task.sample(plan.vocabulary, rng: &rng) })
    }
}
