import Foundation
import TLLMCore

/// A metric value with its standard error.
public struct MetricValue: Codable, Sendable {
    public var value: Double
    public var stderr: Double
    /// The chance baseline, where the metric has one.
    public var chance: Double?
}

public enum Metrics {
    /// Mean and standard error of the mean (sample std with n − 1, over √n), as lm-eval's `mean_stderr`.
    public static func mean(_ xs: [Double]) -> MetricValue {
        let n = Double(xs.count)
        guard n > 0 else { return MetricValue(value: .nan, stderr: .nan) }
        let m = xs.reduce(0, +) / n
        guard n > 1 else { return MetricValue(value: m, stderr: 0) }
        let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)
        return MetricValue(value: m, stderr: (v / n).squareRoot())
    }

    /// A statistic of per-document items with a seeded bootstrap standard error.
    public static func bootstrap<T>(_ items: [T], resamples: Int = 1000, seed: UInt64 = 1234, _ stat: ([T]) -> Double) -> MetricValue {
        let v = stat(items)
        guard items.count > 1 else { return MetricValue(value: v, stderr: 0) }
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("bootstrap"))
        var samples: [Double] = []
        samples.reserveCapacity(resamples)
        for _ in 0..<resamples {
            let s = (0..<items.count).map { _ in items[rng.nextInt(below: items.count)] }
            samples.append(stat(s))
        }
        let m = samples.reduce(0, +) / Double(samples.count)
        let sd = (samples.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(samples.count - 1)).squareRoot()
        return MetricValue(value: v, stderr: sd)
    }
}
