import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMPlot

/// `tllm experiment icl`: in-context learning made to emerge on the symbolic tasks, and measured.
///
/// 1. Phase change: a 2-layer attention-only model and a 1-layer control on associative recall
///    mixed with repeated random runs; loss, ICL score and the best head's prefix matching on
///    one time axis.
/// 2. MQAR accuracy over training for three widths and two numbers of pairs.
/// 3. Label mapping against shots for a model trained on bursty data and one on uniform data.
public struct ICLExperiments {
    public struct Settings: Codable, Sendable {
        public var quick = true
        public var seed: UInt64 = 1
        public var phaseSteps = 5000
        public var recallSteps = 4000
        /// Label mapping: steps on short label sequences mixed with recall, then with long ones too.
        public var labelSteps = 6000
        public var labelLongSteps = 2000
        public var recordEvery = 50
        public var widths = [32, 64, 128]
        public var pairs = [4, 8]
        public var shots = [0, 1, 2, 4, 8]

        public init(quick: Bool) {
            self.quick = quick
            if !quick { phaseSteps = 10_000; recallSteps = 10_000; labelSteps = 8000; labelLongSteps = 6000; recordEvery = 100 }
        }
    }

    /// One model's line in `summary.json`.
    public struct ModelSummary: Codable, Sendable {
        public var name: String
        public var layers: Int
        public var attentionOnly: Bool
        public var params: Int
        public var recallAccuracy: Double
        public var maxPrefixMatching: Double
        public var iclScore: Double
        public var steps: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case name, layers, steps, seconds, params
            case attentionOnly = "attention_only", recallAccuracy = "recall_accuracy"
            case maxPrefixMatching = "max_prefix_matching", iclScore = "icl_score"
        }
    }

    public var settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// A trained plan: its trainer (model) and record.
    struct Trained {
        var trainer: SymbolicTrainer
        var records: [SymbolicTrainer.Record]
        var seconds: Double
        var summary: ModelSummary
    }

    func train(_ plan: SymbolicTrainer.Plan, progress: @escaping (String) -> Void) throws -> Trained {
        let trainer = try SymbolicTrainer(plan: plan)
        let t0 = Clock.now()
        let records = trainer.train { r in
            if r.step % (plan.recordEvery * 10) == 0 || r.step == plan.totalSteps {
                let loss = r.loss.isNaN ? "—" : String(format: "%.3f", r.loss)                   // no training loss before step 1
                progress(String(format: "%@: step %d, loss %@, accuracy %.3f, prefix matching %.2f, ICL score %.2f",
                                plan.name, r.step, loss, r.accuracy, r.maxPrefixMatching, r.iclScore))
            }
        }
        let seconds = Clock.now() - t0
        let last = records.last!
        let params = trainer.model.parameters.reduce(0) { $0 + $1.count }
        let summary = ModelSummary(name: plan.name, layers: plan.layers, attentionOnly: plan.attentionOnly, params: params,
                                   recallAccuracy: last.accuracy, maxPrefixMatching: last.maxPrefixMatching, iclScore: last.iclScore,
                                   steps: last.step, seconds: seconds)
        return Trained(trainer: trainer, records: records, seconds: seconds, summary: summary)
    }

    // MARK: - The three parts

    func phasePlans() -> [SymbolicTrainer.Plan] {
        [2, 1].map { layers in
            var p = SymbolicTrainer.Plan(name: "\(layers)-layer attention-only", tasks: [.recall(pairs: 4, queries: 4)],
                                         evaluation: .recall(pairs: 4, queries: 4))
            p.probe = .recall(pairs: 4, queries: 4)
            p.layers = layers; p.dModel = 64; p.heads = 2; p.attentionOnly = true
            p.steps = settings.phaseSteps; p.recordEvery = settings.recordEvery; p.seed = settings.seed
            p.learningRate = 1e-3
            return p
        }
    }

    func recallPlans() -> [SymbolicTrainer.Plan] {
        settings.pairs.flatMap { n in
            settings.widths.map { d in
                var p = SymbolicTrainer.Plan(name: "MQAR \(n) pairs, d = \(d)", tasks: [.recall(pairs: n, queries: n)],
                                             evaluation: .recall(pairs: n, queries: n))
                p.probe = .recall(pairs: n, queries: n)
                p.layers = 2; p.dModel = d; p.heads = 2; p.attentionOnly = true
                p.steps = settings.recallSteps; p.recordEvery = settings.recordEvery * 2; p.seed = settings.seed
                p.learningRate = 1e-3
                return p
            }
        }
    }

    /// Label mapping, bursty against uniform (Chan et al.): the label lines come in short
    /// sequences (8 lines) mixed with associative recall (MQAR, 4 pairs) until the binding forms,
    /// then longer ones (17 lines) join so that 8-shot prompts (34 tokens) are in range. The
    /// bursty and the uniform model differ only in how their label lines draw items. (Measured:
    /// label lines alone, bursty or not, short or long, stall at 0.5 — choosing among the labels
    /// in context — in 6,000–25,000 steps; with the recall mix the bursty model binds.)
    func labelPlans() -> [SymbolicTrainer.Plan] {
        ItemDistribution.allCases.map { dist in
            let recall = SymbolicTask.recall(pairs: 4, queries: 4)
            var p = SymbolicTrainer.Plan(name: "label mapping, \(dist.rawValue) training", tasks: [recall, .labels(lines: 8, distribution: dist)],
                                         evaluation: .labelShots(shots: 8))
            p.then = [.init(tasks: [recall, .labels(lines: 8, distribution: dist), .labels(lines: 17, distribution: dist)], steps: settings.labelLongSteps)]
            p.probe = .labelShots(shots: 4)
            p.layers = 2; p.dModel = 64; p.heads = 2; p.attentionOnly = true
            p.steps = settings.labelSteps; p.recordEvery = settings.recordEvery * 2; p.seed = settings.seed
            p.learningRate = 1e-3
            return p
        }
    }
}
