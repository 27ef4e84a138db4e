import Foundation
import TLLMCore
import TLLMData
import TLLMModels

// MARK: - One plan from a file (`tllm experiment icl --plan FILE.json`)

extension ICLExperiments {
    /// What one plan's run leaves: its summary line, the training record, and — for label-mapping
    /// evaluations — accuracy against the number of shots.
    public struct PlanResult: Codable, Sendable {
        public var plan: SymbolicTrainer.Plan
        public var summary: ModelSummary
        public var labelShots: [String: Double]?

        enum CodingKeys: String, CodingKey { case plan, summary, labelShots = "label_shots" }
    }

    /// Trains one plan (any model size, task mix and vocabulary a `Plan` describes) and, with an
    /// output folder, writes `records.csv`, `result.json` and the model (`model/`, for
    /// `tllm analyze heads`).
    public func run(plan: SymbolicTrainer.Plan, output: URL?, progress: @escaping (String) -> Void) throws -> PlanResult {
        let t = try train(plan, progress: progress)
        var shots: [String: Double]?
        if case .labelShots = plan.evaluation {
            // Only shot counts whose sequences fit the model's context.
            let fitting = settings.shots.filter { SymbolicTask.labelShots(shots: $0).length <= plan.modelConfig.context }
            shots = Dictionary(uniqueKeysWithValues: fitting.map { s in
                ("\(s)", t.trainer.accuracy(on: .labelShots(shots: s), count: 512))
            })
        }
        let result = PlanResult(plan: plan, summary: t.summary, labelShots: shots)
        if let output {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try writeRecords([t], to: output.appendingPathComponent("records.csv"))
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try enc.encode(result), to: output.appendingPathComponent("result.json"))
            let m = t.trainer.model
            try ModelStore.save(m.namedParameters, config: m.config, to: output.appendingPathComponent("model"))
        }
        return result
    }
}
