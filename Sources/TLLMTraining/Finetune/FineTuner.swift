import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// Fine-tuning with early stopping on validation accuracy.
public struct FineTuneOptions {
    public var mode: FineTuneMode = .full
    public var learningRate: Float = 5e-4
    public var batch = 16
    public var epochs = 8
    /// Evaluate on validation every this many steps (0 = once per epoch).
    public var evalEvery = 0
    /// Stop after this many evaluations without improvement …
    public var patience = 3
    /// … but not before this many epochs (a classifier often predicts one class for a while
    /// before it learns; stopping then would report the majority baseline).
    public var minEpochs = 2
    public var seed: UInt64 = 1
    public var weightDecay: Float = 0.01
    /// Probes train on cached features for at least this many epochs (early stopping still applies).
    public static let probeEpochs = 100
    public init() {}
}

public struct FineTuneResult: Codable {
    public var task: String
    public var mode: String
    public var testAccuracy: Double
    public var testMacroF1: Double
    public var bestValidationAccuracy: Double
    public var trainableParameters: Int
    public var seconds: Double
    public var stepSeconds: Double
    public var steps: Int
    public var majorityBaseline: Double
    /// (step, validation accuracy) at every evaluation.
    public var curve: [[Double]]
    enum CodingKeys: String, CodingKey {
        case task, mode, testAccuracy = "test_accuracy", testMacroF1 = "test_macro_f1", bestValidationAccuracy = "best_val_accuracy"
        case trainableParameters = "trainable_parameters", seconds, stepSeconds = "step_seconds", steps
        case majorityBaseline = "majority_baseline", curve
    }
}

extension ClassificationTask.Example {
    /// The classifier's view of an example.
    public var pair: TextPair { TextPair(text, textB) }
}

/// Classification fine-tuning of a pretrained model (`full`, `freeze:K`) or a linear probe on its
/// frozen features (`probe`, see ``LinearProbe``); reports test accuracy and macro-F1 at the best
/// validation point.
public enum FineTuner {
    public static func run(_ classifier: Classifier, task: ClassificationTask, options o: FineTuneOptions,
                           progress: ((String) -> Void)? = nil) throws -> FineTuneResult {
        let t0 = Clock.now()
        let trainable = classifier.apply(o.mode)
        let outcome: EarlyStopping.Outcome
        let pred: [Int]
        if o.mode == .probe {
            let probe = LinearProbe(classifier: classifier, task: task)
            outcome = probe.fit(options: o, progress: progress)
            pred = probe.predict(task.test)
            probe.foldStandardization()
        } else {
            outcome = fineTune(classifier, trainable: trainable, task: task, options: o, progress: progress)
            pred = predictions(classifier, task.test)
        }
        let gold = task.test.map(\.label)
        return FineTuneResult(task: task.name, mode: o.mode.description, testAccuracy: Metrics.accuracy(pred, gold),
                              testMacroF1: Metrics.macroF1(pred, gold, classes: task.labels.count),
                              bestValidationAccuracy: outcome.best, trainableParameters: trainable.reduce(0) { $0 + $1.count },
                              seconds: Clock.now() - t0, stepSeconds: outcome.stepSeconds / Double(max(1, outcome.steps)),
                              steps: outcome.steps, majorityBaseline: task.majorityBaseline, curve: outcome.curve)
    }

    /// The fine-tuning loop: mini-batches through the backbone, validation accuracy judged every
    /// `evalEvery` steps, the best weights restored at the end.
    static func fineTune(_ classifier: Classifier, trainable: [Tensor], task: ClassificationTask, options o: FineTuneOptions,
                         progress: ((String) -> Void)?) -> EarlyStopping.Outcome {
        let optimizer = AdamW(groups: ParameterGroup.standard(trainable, weightDecay: o.weightDecay), learningRate: o.learningRate,
                              beta1: 0.9, beta2: 0.999)
        let context = ForwardContext.training(rng: classifier.config.dropout > 0 ? RandomGenerator(seed: o.seed, stream: 5) : nil)
        let stepsPerEpoch = (task.train.count + o.batch - 1) / o.batch
        let loop = EarlyStopping(examples: task.train.count, batch: o.batch, epochs: o.epochs, patience: o.patience,
                                 minEpochs: o.minEpochs, evalEvery: o.evalEvery > 0 ? o.evalEvery : stepsPerEpoch, seed: o.seed)
        return loop.run(trainable: trainable, optimizer: optimizer, loss: { idx in
            let xs = idx.map { task.train[$0] }
            return classifier.logits(classifier.features(xs.map(\.pair), context: context)).crossEntropy(targets: xs.map { Int32($0.label) })
        }, validate: { step in
            let acc = Metrics.accuracy(predictions(classifier, task.validation), task.validation.map(\.label))
            progress?(String(format: "%@ %@: step %d, validation accuracy %.3f", task.name, o.mode.description, step, acc))
            return acc
        })
    }

    /// Predicted classes, 32 examples at a time, without the tape.
    static func predictions(_ classifier: Classifier, _ xs: [ClassificationTask.Example]) -> [Int] {
        Autograd.withNoGrad {
            stride(from: 0, to: xs.count, by: 32).flatMap { i in
                Metrics.argmaxRows(classifier.logits(classifier.features(xs[i..<min(xs.count, i + 32)].map(\.pair))))
            }
        }
    }
}

/// The loop fine-tuning and probes share: shuffled mini-batches each epoch, one optimizer step per
/// batch, validation every `evalEvery` steps (and at the very end), a snapshot of the trainable
/// tensors at the best validation score, early stopping after `patience` evaluations without
/// improvement (never before `minEpochs`), and the best snapshot restored on return.
struct EarlyStopping {
    var examples: Int, batch: Int, epochs: Int, patience: Int, minEpochs: Int, evalEvery: Int, seed: UInt64

    struct Outcome {
        var best: Double
        var curve: [[Double]]
        var steps: Int
        var stepSeconds: Double
    }

    func run(trainable: [Tensor], optimizer: AdamW, loss: ([Int]) -> Tensor, validate: (Int) -> Double) -> Outcome {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("finetune"))
        var order = Array(0..<examples)
        let stepsPerEpoch = (examples + batch - 1) / batch
        var out = Outcome(best: -1, curve: [], steps: 0, stepSeconds: 0)
        var snapshot: [[Float]] = [], sinceBest = 0
        training: for epoch in 0..<epochs {
            rng.shuffle(&order)
            for b in 0..<stepsPerEpoch {
                let s0 = Clock.now()
                loss(Array(order[(b * batch)..<min(order.count, (b + 1) * batch)])).backward()
                optimizer.step()
                optimizer.zeroGrad()
                out.stepSeconds += Clock.now() - s0
                out.steps += 1
                guard out.steps % evalEvery == 0 || (epoch == epochs - 1 && b == stepsPerEpoch - 1) else { continue }
                let score = validate(out.steps)
                out.curve.append([Double(out.steps), score])
                if score > out.best {
                    out.best = score; sinceBest = 0
                    snapshot = trainable.map(\.values)
                } else {
                    sinceBest += 1
                    if sinceBest >= patience && epoch + 1 >= min(minEpochs, epochs) { break training }
                }
            }
        }
        for (t, v) in zip(trainable, snapshot) { v.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) } }
        return out
    }
}
