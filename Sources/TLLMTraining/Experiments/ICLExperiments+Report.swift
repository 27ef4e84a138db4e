import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMPlot

extension ICLExperiments {
    /// When the best head's prefix matching rose and the ICL score fell. Two readings: the
    /// literal one (last record < 0.1 before the first > 0.5) and the 10–90% rise between the
    /// early plateau (median of the first fifth of training) and the final value.
    public struct PhaseChange: Codable, Sendable {
        public var lastStepBelow: Int?
        public var firstStepAbove: Int?
        public var plateau: Double
        public var riseFrom: Int?, riseTo: Int?
        public var riseFraction: Double?
        public var iclFrom: Int?, iclTo: Int?

        enum CodingKeys: String, CodingKey {
            case lastStepBelow = "last_step_prefix_below_0.1", firstStepAbove = "first_step_prefix_above_0.5"
            case plateau = "prefix_plateau_before", riseFrom = "prefix_rise_10pct_step", riseTo = "prefix_rise_90pct_step"
            case riseFraction = "prefix_rise_fraction_of_training"
            case iclFrom = "icl_drop_10pct_step", iclTo = "icl_drop_90pct_step"
        }

        init(_ records: [SymbolicTrainer.Record], steps: Int) {
            if let above = records.firstIndex(where: { $0.maxPrefixMatching > 0.5 }) {
                firstStepAbove = records[above].step
                lastStepBelow = records[..<above].last(where: { $0.maxPrefixMatching < 0.1 })?.step
            }
            let early = records.filter { $0.step > 0 && $0.step <= steps / 5 }.map(\.maxPrefixMatching).sorted()
            plateau = early.isEmpty ? records[0].maxPrefixMatching : early[early.count / 2]
            (riseFrom, riseTo) = Self.window(records.map { ($0.step, $0.maxPrefixMatching) }, from: plateau)
            if let a = riseFrom, let b = riseTo { riseFraction = Double(b - a) / Double(steps) }
            let iclEarly = records.filter { $0.step > 0 && $0.step <= steps / 5 }.map(\.iclScore).sorted()
            let iclBase = iclEarly.isEmpty ? records[0].iclScore : iclEarly[iclEarly.count / 2]
            (iclFrom, iclTo) = Self.window(records.map { ($0.step, -$0.iclScore) }, from: -iclBase)
        }

        /// The steps between the last value ≤ 10% and the first ≥ 90% of the way from `base` to the end.
        static func window(_ curve: [(Int, Double)], from base: Double) -> (Int?, Int?) {
            let end = curve.last!.1
            guard end - base > 0.05 else { return (nil, nil) }
            let lo = base + 0.1 * (end - base), hi = base + 0.9 * (end - base)
            guard let top = curve.firstIndex(where: { $0.1 >= hi }) else { return (nil, nil) }
            return (curve[..<top].last(where: { $0.1 <= lo })?.0, curve[top].0)
        }
    }

    struct Summary: Codable {
        var cpu: String
        var threads: Int
        var quick: Bool
        var seconds: Double
        var models: [ModelSummary]
        var phaseChange: PhaseChange
        var labelMapping: [String: [String: Double]]

        enum CodingKeys: String, CodingKey {
            case cpu, threads, quick, seconds, models
            case phaseChange = "phase_change", labelMapping = "label_mapping_accuracy_by_shots"
        }
    }

    /// Trains the suite and writes `summary.json`, the CSVs, the SVG charts and `emergence.md` into `output`.
    public func run(output: URL, progress: @escaping (String) -> Void) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let t0 = Clock.now()
        // 1. Phase change
        let phase = try phasePlans().map { try train($0, progress: progress) }
        try writeRecords(phase, to: output.appendingPathComponent("phase-change.csv"))
        try phaseChart(phase).svg().write(to: output.appendingPathComponent("phase-change.svg"), atomically: true, encoding: .utf8)
        let change = PhaseChange(phase[0].records, steps: phase[0].trainer.plan.totalSteps)
        for (t, slug) in zip(phase, ["2-layer", "1-layer"]) {                     // for `tllm analyze heads`
            let m = t.trainer.model
            try ModelStore.save(m.namedParameters, config: m.config, to: output.appendingPathComponent("models/\(slug)"))
        }
        // 2. MQAR
        let recall = try recallPlans().map { try train($0, progress: progress) }
        try writeRecords(recall, to: output.appendingPathComponent("mqar.csv"))
        try curveChart(recall, title: "Associative recall (MQAR) on held-out maps", y: "accuracy", value: \.accuracy)
            .svg().write(to: output.appendingPathComponent("mqar.svg"), atomically: true, encoding: .utf8)
        // 3. Label mapping
        let labels = try labelPlans().map { try train($0, progress: progress) }
        var byShots: [String: [String: Double]] = [:]
        var csv = "training,shots,accuracy\n"
        for t in labels {
            let name = t.trainer.plan.name
            for s in settings.shots {
                let acc = t.trainer.accuracy(on: .labelShots(shots: s), count: 512)
                byShots[name, default: [:]]["\(s)"] = acc
                csv += "\"\(name)\",\(s),\(acc)\n"
            }
        }
        try AtomicFile.write(csv, to: output.appendingPathComponent("label-mapping.csv"))
        try shotsChart(byShots).svg().write(to: output.appendingPathComponent("label-mapping.svg"), atomically: true, encoding: .utf8)
        try writeRecords(labels, to: output.appendingPathComponent("label-mapping-training.csv"))

        let all = phase + recall + labels
        let summary = Summary(cpu: CPUFeatures.modelName, threads: Threading.count, quick: settings.quick, seconds: Clock.now() - t0,
                              models: all.map(\.summary), phaseChange: change, labelMapping: byShots)
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(summary), to: output.appendingPathComponent("summary.json"))
        try AtomicFile.write(markdown(summary, phase: phase, recall: recall), to: output.appendingPathComponent("emergence.md"))
    }

    // MARK: - Files

    func writeRecords(_ runs: [Trained], to url: URL) throws {
        var csv = "model,layers,d_model,attention_only,step,loss,accuracy,icl_score,max_prefix_matching,best_head\n"
        for t in runs {
            let p = t.trainer.plan
            for r in t.records {
                csv += "\"\(p.name)\",\(p.layers),\(p.dModel),\(p.attentionOnly),\(r.step),\(r.loss.isNaN ? "" : "\(r.loss)"),\(r.accuracy),\(r.iclScore),\(r.maxPrefixMatching),\(r.bestHead)\n"
            }
        }
        try AtomicFile.write(csv, to: url)
    }

    func phaseChart(_ runs: [Trained]) -> Chart {
        var series: [Chart.Series] = []
        for (i, t) in runs.enumerated() {
            let name = t.trainer.plan.name, dashed = i > 0
            let pts = t.records.filter { !$0.loss.isNaN }
            series.append(.init(name: "\(name): training loss", points: pts.map { (Double($0.step), $0.loss) }, markers: false, dashed: dashed, color: 0))
            series.append(.init(name: "\(name): best prefix matching", points: t.records.map { (Double($0.step), $0.maxPrefixMatching) },
                                markers: false, dashed: dashed, color: 1))
            series.append(.init(name: "\(name): −ICL score (nats)", points: t.records.map { (Double($0.step), -$0.iclScore) },
                                markers: false, dashed: dashed, color: 2))
            series.append(.init(name: "\(name): recall accuracy", points: t.records.map { (Double($0.step), $0.accuracy) },
                                markers: false, dashed: dashed, color: 3))
        }
        return Chart(title: "Induction heads form in a phase change (solid: 2 layers, dashed: 1 layer)", xLabel: "training step",
                     yLabel: "loss (nats) / score", series: series)
    }

    func curveChart(_ runs: [Trained], title: String, y: String, value: KeyPath<SymbolicTrainer.Record, Double>) -> Chart {
        Chart(title: title, xLabel: "training step", yLabel: y, series: runs.enumerated().map { i, t in
            .init(name: t.trainer.plan.name, points: t.records.map { (Double($0.step), $0[keyPath: value]) }, markers: false, color: i)
        })
    }

    func shotsChart(_ byShots: [String: [String: Double]]) -> Chart {
        Chart(title: "Label mapping on held-out items with fresh labels", xLabel: "shots (lines of the query item in context)",
              yLabel: "accuracy", series: byShots.keys.sorted().enumerated().map { i, name in
                  .init(name: name, points: settings.shots.map { (Double($0), byShots[name]!["\($0)"]!) }, color: i)
              })
    }
}
