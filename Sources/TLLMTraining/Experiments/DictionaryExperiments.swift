import Foundation
import TLLMCore
import TLLMData
import TLLMDictionary
import TLLMModels
import TLLMTokenizer

/// The dictionary-learning experiments (`tllm experiment dictionary`): self-taught learning and
/// semi-coupled dictionaries on the digits, and sparse dictionary features of a trained GPT's
/// residual stream. Each part writes a CSV; `dictionary.md` collects the tables.
public struct DictionaryExperiments {
    public struct Settings: Codable, Sendable {
        public var seeds = [1, 2, 3, 4, 5]
        /// Self-taught: labelled examples per class (0 = all of the training pool).
        public var labelsPerClass = [1, 5, 10, 50, 0]
        public var selfTaughtAtoms = [32, 128]
        public var selfTaughtAlpha: Float = 0.1
        /// Semi-coupled: noise added to the block-averaged images.
        public var degradationNoise: Float = 0.05
        public var coupledAtoms = 128
        public var coupledAlpha: Float = 0.1
        public var coupledGamma: Float = 0.1
        /// Language model: the block after which the residual stream is read (1-based), tokens to
        /// learn from and to evaluate on, atoms, and the penalties tried.
        public var layer = 3
        public var trainTokens = 16_384
        public var testTokens = 4_096
        public var lmAtoms = 1_280
        public var lmAlphas: [Float] = [0.05, 0.1, 0.2, 0.4]
        public init() {}
    }

    public var settings: Settings
    public init(settings: Settings = Settings()) { self.settings = settings }

    // MARK: - Shared helpers

    static func matrix(_ v: LabeledVectors) -> Matrix { Matrix(rows: v.count, cols: v.features, values: v.values) }

    static func meanStd(_ xs: [Double]) -> (mean: Double, std: Double) {
        let m = xs.reduce(0, +) / Double(max(1, xs.count))
        let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(1, xs.count - 1))
        return (m, v.squareRoot())
    }

    static func pm(_ xs: [Double], _ digits: Int = 3) -> String {
        let (m, s) = meanStd(xs)
        return String(format: "%.\(digits)f ± %.\(digits)f", m, s)
    }

    /// A logistic regression's test accuracy on raw (unstandardised) features.
    static func accuracy(train: Matrix, _ trainLabels: [Int], test: Matrix, _ testLabels: [Int], classes: Int) -> Double {
        var model = LogisticRegression(standardize: false)     // as scikit-learn's default: with one label per class, standardising sparse codes blows up rare atoms
        model.fit(train.values, features: train.cols, labels: trainLabels, classes: classes)
        return Metrics.accuracy(model.predict(test.values), testLabels)
    }
}

// MARK: - PCA
