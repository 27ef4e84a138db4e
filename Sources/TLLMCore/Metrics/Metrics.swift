import Foundation

/// A metric value with its standard error.
public struct MetricValue: Codable, Sendable {
    public var value: Double
    public var stderr: Double
    /// The chance baseline, where the metric has one.
    public var chance: Double?

    public init(value: Double, stderr: Double, chance: Double? = nil) {
        self.value = value; self.stderr = stderr; self.chance = chance
    }
}

/// The metrics every part of tllm reports — evaluation, fine-tuning, probes, contrastive and
/// dictionary features — computed in one place.
public enum Metrics {
    // MARK: Classification

    /// The share of predictions equal to the gold labels.
    public static func accuracy(_ predicted: [Int], _ gold: [Int]) -> Double {
        check(predicted.count == gold.count, "accuracy: \(predicted.count) predictions for \(gold.count) labels")
        return Double(zip(predicted, gold).filter { $0 == $1 }.count) / Double(max(1, gold.count))
    }

    /// Macro-averaged F1 over the classes that occur in `gold` or `predicted` (scikit-learn's
    /// `f1_score(average="macro")` with `labels` = those classes).
    public static func macroF1(_ predicted: [Int], _ gold: [Int], classes: Int) -> Double {
        var tp = [Double](repeating: 0, count: classes), fp = tp, fn = tp, seen = [Bool](repeating: false, count: classes)
        for (p, g) in zip(predicted, gold) {
            seen[p] = true; seen[g] = true
            if p == g { tp[p] += 1 } else { fp[p] += 1; fn[g] += 1 }
        }
        var sum = 0.0, n = 0
        for c in 0..<classes where seen[c] {
            let denominator: Double = 2 * tp[c] + fp[c] + fn[c]
            sum += tp[c] == 0 ? 0 : 2 * tp[c] / denominator
            n += 1
        }
        return sum / Double(max(1, n))
    }

    /// The argmax column of each row of `[N, C]` scores (the first on ties).
    public static func argmaxRows(_ scores: Tensor) -> [Int] {
        let C = scores.lastDim
        return (0..<scores.rows).map { i in
            let r = scores.data + i * C
            var best = 0
            for j in 1..<C where r[j] > r[best] { best = j }
            return best
        }
    }

    // MARK: Means and standard errors

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
