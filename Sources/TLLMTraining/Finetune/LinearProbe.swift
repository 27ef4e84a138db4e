import Foundation
import TLLMCore
import TLLMData
import TLLMModels

/// A linear probe: logistic regression on a frozen model's features, as probes in the literature
/// are trained.
///
/// `fit` computes the training features once (no tape), standardises them with the training set's
/// mean and deviation, and trains the classifier's head alone to convergence (AdamW, early
/// stopping on validation accuracy); afterwards the standardisation is folded into the head
/// (`W' = W·diag(1/σ)`, `b' = b − W'·μ`), so the classifier takes raw features again.
public final class LinearProbe {
    public let classifier: Classifier
    public let task: ClassificationTask
    /// Standardised training features `[N, d]`.
    let trainFeatures: Tensor
    let mean: [Float], invStd: [Float]
    var folded = false

    public init(classifier: Classifier, task: ClassificationTask) {
        self.classifier = classifier
        self.task = task
        let f = LinearProbe.rawFeatures(classifier, task.train)
        (mean, invStd) = LinearProbe.moments(f)
        LinearProbe.standardize(f, mean: mean, invStd: invStd)
        trainFeatures = f
    }

    /// Trains the head; returns the validation curve and the best score.
    func fit(options o: FineTuneOptions, progress: ((String) -> Void)?) -> EarlyStopping.Outcome {
        let head = [classifier.head, classifier.headBias]
        let optimizer = AdamW(groups: ParameterGroup.standard(head, weightDecay: o.weightDecay), learningRate: o.learningRate,
                              beta1: 0.9, beta2: 0.999)
        let stepsPerEpoch = (task.train.count + o.batch - 1) / o.batch
        // A probe's steps cost microseconds: enough epochs to converge, judged once per epoch.
        let loop = EarlyStopping(examples: task.train.count, batch: o.batch, epochs: max(o.epochs, FineTuneOptions.probeEpochs),
                                 patience: max(o.patience, 8), minEpochs: o.minEpochs, evalEvery: stepsPerEpoch, seed: o.seed)
        let validation = standardizedChunks(task.validation)
        let outcome = loop.run(trainable: head, optimizer: optimizer, loss: { idx in
            let f = Autograd.withNoGrad { trainFeatures.gatherRows(idx.map(Int32.init)) }
            return classifier.logits(f).crossEntropy(targets: idx.map { Int32(task.train[$0].label) })
        }, validate: { step in
            let acc = Metrics.accuracy(predict(chunks: validation), task.validation.map(\.label))
            progress?(String(format: "%@ probe: step %d, validation accuracy %.3f", task.name, step, acc))
            return acc
        })
        return outcome
    }

    /// Predicted classes of raw examples.
    public func predict(_ xs: [ClassificationTask.Example]) -> [Int] {
        predict(chunks: standardizedChunks(xs))
    }

    /// Folds the standardisation into the head (once): the classifier then predicts from raw features.
    public func foldStandardization() {
        guard !folded else { return }
        folded = true
        let C = classifier.head.shape[0], d = classifier.head.shape[1]
        for c in 0..<C {
            let w = classifier.head.data + c * d
            var shift: Float = 0
            for j in 0..<d { w[j] *= invStd[j]; shift += w[j] * mean[j] }
            classifier.headBias.data[c] -= shift
        }
    }

    // MARK: - Features

    func predict(chunks: [Tensor]) -> [Int] {
        Autograd.withNoGrad { chunks.flatMap { Metrics.argmaxRows(classifier.logits($0)) } }
    }

    /// Features of `xs` in chunks of 32, standardised with the training moments.
    func standardizedChunks(_ xs: [ClassificationTask.Example]) -> [Tensor] {
        stride(from: 0, to: xs.count, by: 32).map { i in
            let f = Autograd.withNoGrad { classifier.features(xs[i..<min(xs.count, i + 32)].map(\.pair)) }.detached()
            LinearProbe.standardize(f, mean: mean, invStd: invStd)
            return f
        }
    }

    static func rawFeatures(_ classifier: Classifier, _ xs: [ClassificationTask.Example]) -> Tensor {
        Autograd.withNoGrad {
            let rows = stride(from: 0, to: xs.count, by: 32).map { i in
                classifier.features(xs[i..<min(xs.count, i + 32)].map(\.pair)).detached()
            }
            return Tensor.concat(rows, axis: 0)
        }
    }

    /// Per-column mean and 1/√(variance + 1e-8), accumulated in double.
    static func moments(_ f: Tensor) -> (mean: [Float], invStd: [Float]) {
        let n = f.rows, d = f.lastDim
        var mean = [Float](repeating: 0, count: d), invStd = mean
        for j in 0..<d {
            var m = 0.0, v = 0.0
            for i in 0..<n { m += Double(f.data[i * d + j]) }
            m /= Double(max(1, n))
            for i in 0..<n { let e = Double(f.data[i * d + j]) - m; v += e * e }
            mean[j] = Float(m); invStd[j] = Float(1 / (v / Double(max(1, n)) + 1e-8).squareRoot())
        }
        return (mean, invStd)
    }

    static func standardize(_ f: Tensor, mean: [Float], invStd: [Float]) {
        let d = f.lastDim
        for i in 0..<f.rows { let r = f.data + i * d; for j in 0..<d { r[j] = (r[j] - mean[j]) * invStd[j] } }
    }
}
