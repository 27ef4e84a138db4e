import Foundation
import TLLMContrastive
import TLLMCore
import TLLMPlot

/// `tllm experiment mi`: MINE, NWJ, InfoNCE and the JSD-trained critic against the true mutual
/// information of correlated Gaussians (d dimensions, correlation ρ per dimension).
public struct MIExperiments {
    public struct Settings: Codable, Sendable {
        public var dimension = 5
        public var rhos = [0.2, 0.5, 0.8, 0.9, 0.95]
        public var steps = 800
        public var batch = 128
        public var seed: UInt64 = 1
        public init() {}
    }

    public var settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// Writes `mi-estimators.csv`, `mi-estimators.svg` and `mi-estimators.md` into `output`.
    public func run(output: URL, progress: (String) -> Void) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let s = settings, t0 = Clock.now()
        var rows: [(Double, Double, MIEstimator, Double)] = []                     // ρ, truth, estimator, estimate
        for rho in s.rhos {
            let data = CorrelatedGaussians(dimension: s.dimension, rho: rho)
            for e in MIEstimator.allCases {
                let est = MICritic(dimension: s.dimension, seed: s.seed).fit(data, estimator: e, steps: s.steps, batch: s.batch, seed: s.seed)
                rows.append((rho, data.trueMI, e, est))
                progress(String(format: "ρ = %.2f (true MI %.3f): %@ %.3f", rho, data.trueMI, e.rawValue, est))
            }
        }
        var csv = "rho,true_mi,estimator,estimate\n"
        for r in rows { csv += "\(r.0),\(r.1),\(r.2.rawValue),\(r.3)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("mi-estimators.csv"))
        var series: [Chart.Series] = [.init(name: "true MI", points: s.rhos.map { rho in
            let t = CorrelatedGaussians(dimension: s.dimension, rho: rho).trueMI; return (t, t) }, dashed: true, color: 0)]
        for (i, e) in MIEstimator.allCases.enumerated() {
            series.append(.init(name: e == .jsd ? "JSD critic, read with DV" : e.rawValue,
                                points: rows.filter { $0.2 == e }.map { ($0.1, $0.3) }, color: i + 1))
        }
        let logN = Foundation.log(Double(s.batch))
        series.append(.init(name: String(format: "log N = %.2f (InfoNCE's ceiling)", logN), points: [(0, logN), (rows.map(\.1).max()!, logN)],
                            markers: false, dashed: true, color: 6))
        let chart = Chart(title: "Mutual information estimates on correlated Gaussians (d = \(s.dimension))", xLabel: "true MI (nats)",
                          yLabel: "estimate (nats)", series: series)
        try chart.svg().write(to: output.appendingPathComponent("mi-estimators.svg"), atomically: true, encoding: .utf8)
        var md = """
        # Mutual-information estimators against the truth

        Made by `tllm experiment mi` on \(CPUFeatures.modelName), \(Threading.count) threads, in \(String(format: "%.1f", (Clock.now() - t0) / 60)) minutes.
        x ~ N(0, I_\(s.dimension)), y = ρx + √(1 − ρ²)ε: true MI = −(\(s.dimension)/2)·log(1 − ρ²). Critic: an MLP on [x, y]
        (2d → 64 → 64 → 1, ReLU), scored on all \(s.batch)² pairs of a batch; \(s.steps) Adam steps (lr 1e-3) on fresh batches,
        then the mean estimate over 8 fresh batches (seed \(s.seed)). MINE: the DV bound with the moving-average gradient
        correction (α = 0.01); JSD: trained with Deep InfoMax's Jensen–Shannon objective, MI read off the critic with DV;
        InfoNCE can never exceed log N = \(String(format: "%.2f", logN)). Plot: `mi-estimators.svg`.

        | ρ | true MI | \(MIEstimator.allCases.map(\.rawValue).joined(separator: " | ")) |
        |---:|---:|\(MIEstimator.allCases.map { _ in "---:|" }.joined())

        """
        for rho in s.rhos {
            let r = rows.filter { $0.0 == rho }
            md += String(format: "| %.2f | %.3f |", rho, r[0].1) + r.map { String(format: " %.3f |", $0.3) }.joined() + "\n"
        }
        try AtomicFile.write(md, to: output.appendingPathComponent("mi-estimators.md"))
    }
}
