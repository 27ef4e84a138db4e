import Foundation

/// What a model is trained to do.
public enum Objective: Equatable, Sendable, CustomStringConvertible {
    /// Next-token prediction (a GPT).
    case nextToken
    /// Masked-token prediction (a BERT-style encoder), with or without next-sentence prediction.
    case masked(nsp: Bool)

    /// The `--objective` / `trainer.json` spelling: `clm` or `mlm` (NSP is stored beside it).
    public var name: String { self == .nextToken ? "clm" : "mlm" }

    /// Parses `clm` / `mlm` (with `nsp` for masked).
    public init?(name: String, nsp: Bool = false) {
        switch name {
        case "clm": self = .nextToken
        case "mlm": self = .masked(nsp: nsp)
        default: return nil
        }
    }

    public var usesNSP: Bool { self == .masked(nsp: true) }

    public var description: String {
        switch self {
        case .nextToken: return "next-token (causal LM)"
        case .masked(let nsp): return nsp ? "masked LM + NSP" : "masked LM"
        }
    }
}

/// A quantity an objective reports during training and validation. The raw value is its name in
/// `metrics.csv` (`train_<name>`, `val_<name>`) and in `summary.json`.
public enum TrainingMetric: String, CaseIterable, Codable, Sendable {
    /// Mean cross-entropy, nats per predicted token.
    case loss
    /// Bits per UTF-8 byte of the predicted tokens.
    case bitsPerByte = "bpb"
    case perplexity
    /// Share of masked tokens predicted exactly (masked LM).
    case mlmAccuracy = "mlm_accuracy"
    /// Share of sentence pairs classified correctly (NSP).
    case nspAccuracy = "nsp_accuracy"
    /// NSP cross-entropy (nats).
    case nspLoss = "nsp_loss"
    /// The best attention head's prefix-matching score on repeated random runs (1: an induction head).
    case prefixMatching = "prefix_matching"
    /// Mean loss on the repeat of a random run minus on its first occurrence (nats; negative: context helps).
    case inContextScore = "icl_score"
}

/// Values of some ``TrainingMetric``s: a metric that was not computed is absent, never 0 or NaN.
public struct MetricValues: Equatable, Sendable, Codable {
    public private(set) var values: [TrainingMetric: Double] = [:]

    public init(_ values: [TrainingMetric: Double] = [:]) { self.values = values }

    public subscript(_ m: TrainingMetric) -> Double? {
        get { values[m] }
        set { values[m] = newValue }
    }

    public var isEmpty: Bool { values.isEmpty }

    /// Adds `other / n` metric by metric (window and accumulation averages).
    public mutating func add(_ other: MetricValues, dividedBy n: Double = 1) {
        for (k, v) in other.values { values[k, default: 0] += n == 1 ? v : v / n }
    }

    /// Every value divided by `n`.
    public func divided(by n: Double) -> MetricValues { MetricValues(values.mapValues { $0 / n }) }

    /// By name, for CSV rows and JSON.
    public var byName: [String: Double] { Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, $0.value) }) }

    /// Encoded as `{"name": value}` (the format `trainer.json` has always used).
    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([String: Double].self)
        for (k, v) in raw { if let m = TrainingMetric(rawValue: k) { values[m] = v } }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(byName)
    }
}
