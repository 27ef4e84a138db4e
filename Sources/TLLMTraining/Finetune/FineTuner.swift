import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// How much of a pretrained model trains.
public enum FineTuneMode: Equatable, CustomStringConvertible {
    /// Everything trains.
    case full
    /// Embeddings and the lowest K blocks are frozen: no gradients, no optimizer state, and the
    /// backward pass stops at block K.
    case freeze(Int)
    /// The whole encoder is frozen; features are computed once and only a linear head trains.
    case probe

    public static func parse(_ s: String) -> FineTuneMode? {
        if s == "full" { return .full }
        if s == "probe" { return .probe }
        if s.hasPrefix("freeze:"), let k = Int(s.dropFirst(7)), k >= 0 { return .freeze(k) }
        return nil
    }

    public var description: String {
        switch self {
        case .full: return "full"
        case .freeze(let k): return "freeze:\(k)"
        case .probe: return "probe"
        }
    }
}

/// A pretrained encoder (BERT: `[CLS]` through the pooler) or decoder (GPT: last token or mean)
/// with a linear classification head.
public final class Classifier {
    public enum Backbone { case bert(BERTModel), gpt(GPTModel) }
    /// GPT: last token or mean; BERT: `[CLS]` through the pooler (`last`) or the mean of the tokens.
    public enum Pooling: String { case last, mean }
    public let backbone: Backbone
    public let tokenizer: Tokenizer
    public let head: Tensor, headBias: Tensor   // [C, d], [C]
    public var pooling: Pooling = .last
    /// Features from this many blocks (probes); nil = the full model.
    public var layer: Int?

    public init(backbone: Backbone, tokenizer: Tokenizer, classes: Int, seed: UInt64) {
        self.backbone = backbone
        self.tokenizer = tokenizer
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("classifier-head"))
        let d: Int
        switch backbone { case .bert(let m): d = m.config.dModel; case .gpt(let m): d = m.config.dModel }
        head = Tensor.randn([classes, d], std: 0.02, rng: &rng, requiresGrad: true)
        headBias = Tensor(zeros: [classes], requiresGrad: true)
    }

    public var config: ModelConfig {
        switch backbone { case .bert(let m): return m.config; case .gpt(let m): return m.config }
    }

    /// The backbone's parameters the classifier uses, embeddings first, then block by block.
    public var backboneParameters: (embeddings: [Tensor], blocks: [[Tensor]], rest: [Tensor]) {
        switch backbone {
        case .bert(let m):
            return (m.embeddingParameters, m.blocks.map { $0.namedParameters.map(\.1) },
                    [m.finalNormWeight] + (m.finalNormBias.map { [$0] } ?? []) + [m.poolerDense, m.poolerBias])
        case .gpt(let m):
            return ([m.tokenEmbedding] + (m.positionEmbedding.map { [$0] } ?? []), m.blocks.map { $0.namedParameters.map(\.1) },
                    [m.finalNormWeight] + (m.finalNormBias.map { [$0] } ?? []))
        }
    }

    /// Sets which parameters train for `mode`; returns the trainable ones (head included).
    public func apply(_ mode: FineTuneMode) -> [Tensor] {
        let p = backboneParameters
        let all = p.embeddings + p.blocks.flatMap { $0 } + p.rest
        switch backbone {
        case .bert(let m): for t in m.namedParameters.map(\.1) { t.requiresGrad = false }
        case .gpt(let m): for t in m.namedParameters.map(\.1) { t.requiresGrad = false }
        }
        var trainable: [Tensor] = []
        switch mode {
        case .full: trainable = all
        case .freeze(let k): trainable = p.blocks.dropFirst(k).flatMap { $0 } + p.rest
        case .probe: trainable = []
        }
        for t in trainable { t.requiresGrad = true }
        head.requiresGrad = true
        headBias.requiresGrad = true
        return trainable + [head, headBias]
    }

    /// Token ids, segments and lengths for a batch (padded to the longest, at most the context).
    func encode(_ xs: [ClassificationTask.Example]) -> (ids: [Int32], segments: [Int32], lengths: [Int], T: Int) {
        let ctx = config.context
        var seqs: [([Int32], [Int32])] = []
        switch backbone {
        case .bert:
            let cls = tokenizer.specialID("[CLS]") ?? 0, sep = tokenizer.specialID("[SEP]") ?? 0
            for e in xs {
                var a = tokenizer.encode(e.text), b = e.textB.map { tokenizer.encode($0) } ?? []
                let budget = ctx - (b.isEmpty ? 2 : 3)
                while a.count + b.count > budget { if a.count >= b.count { a.removeLast() } else { b.removeLast() } }
                var ids = [cls] + a + [sep]
                var seg = [Int32](repeating: 0, count: ids.count)
                if !b.isEmpty { ids += b + [sep]; seg += [Int32](repeating: 1, count: b.count + 1) }
                seqs.append((ids, seg))
            }
        case .gpt:
            let eot = tokenizer.specialID("<|endoftext|>") ?? 0
            for e in xs {
                var ids = tokenizer.encode(e.text + (e.textB.map { "\n\n" + $0 } ?? "")) + [eot]
                if ids.count > ctx { ids = Array(ids.suffix(ctx)) }
                seqs.append((ids, [Int32](repeating: 0, count: ids.count)))
            }
        }
        let T = seqs.map { $0.0.count }.max() ?? 1
        let pad = tokenizer.specialID("[PAD]") ?? 0
        var ids = [Int32](repeating: pad, count: xs.count * T), seg = [Int32](repeating: 0, count: xs.count * T)
        for (b, s) in seqs.enumerated() {
            for t in 0..<s.0.count { ids[b * T + t] = s.0[t]; seg[b * T + t] = s.1[t] }
        }
        return (ids, seg, seqs.map { $0.0.count }, T)
    }

    /// Pooled features `[B, d]` (recorded on the tape for trainable parts).
    public func features(_ xs: [ClassificationTask.Example], dropout: inout RandomGenerator?) -> Tensor {
        let (ids, seg, lengths, T) = encode(xs)
        let B = xs.count
        switch backbone {
        case .bert(let m):
            let h = m.encode(ids, segments: seg, lengths: lengths, batch: B, length: T, dropout: &dropout, upTo: layer)
            if pooling == .mean { return meanPool(h, lengths: lengths, B: B, T: T) }
            if layer == nil || layer == m.blocks.count { return m.pooled(h, batch: B, length: T) }
            return h.gatherRows((0..<B).map { Int32($0 * T) })
        case .gpt(let m):
            let h = m.hidden(ids, batch: B, length: T, dropout: &dropout, upTo: layer)
            switch pooling {
            case .last: return h.gatherRows((0..<B).map { Int32($0 * T + lengths[$0] - 1) })
            case .mean: return meanPool(h, lengths: lengths, B: B, T: T)
            }
        }
    }

    /// Mean over each sequence's real tokens: a `[B, B·T]` averaging matrix times the hidden states (one sgemm).
    func meanPool(_ h: Tensor, lengths: [Int], B: Int, T: Int) -> Tensor {
        var w = [Float](repeating: 0, count: B * B * T)
        for b in 0..<B { for t in 0..<lengths[b] { w[b * B * T + b * T + t] = 1 / Float(lengths[b]) } }
        return Tensor(shape: [B, B * T], values: w).matmul(h)
    }

    public func logits(_ features: Tensor) -> Tensor { features.linear(head, headBias) }
}

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

public enum FineTuner {
    /// Accuracy and macro-F1 of predictions.
    public static func scores(_ pred: [Int], _ gold: [Int], classes: Int) -> (accuracy: Double, macroF1: Double) {
        let acc = Double(zip(pred, gold).filter { $0 == $1 }.count) / Double(max(1, gold.count))
        var f1s: [Double] = []
        for c in 0..<classes where gold.contains(c) || pred.contains(c) {
            let tp = Double(zip(pred, gold).filter { $0 == c && $1 == c }.count)
            let fp = Double(zip(pred, gold).filter { $0 == c && $1 != c }.count)
            let fn = Double(zip(pred, gold).filter { $0 != c && $1 == c }.count)
            f1s.append(tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn))
        }
        return (acc, f1s.reduce(0, +) / Double(max(1, f1s.count)))
    }

    /// The argmax class of each row of `[N, C]` logits.
    public static func predict(_ logits: Tensor) -> [Int] {
        let C = logits.lastDim
        return (0..<logits.rows).map { i in
            let r = logits.data + i * C
            var best = 0
            for j in 1..<C where r[j] > r[best] { best = j }
            return best
        }
    }

    /// Trains `classifier` on `task` and reports test accuracy and macro-F1 at the best validation point.
    public static func run(_ classifier: Classifier, task: ClassificationTask, options o: FineTuneOptions,
                           progress: ((String) -> Void)? = nil) throws -> FineTuneResult {
        let trainable = classifier.apply(o.mode)
        let nTrainable = trainable.reduce(0) { $0 + $1.count }
        let t0 = Clock.now()
        var rng = RandomGenerator(seed: o.seed, stream: RandomGenerator.streamID("finetune"))
        let opt = AdamW(groups: ParameterGroup.standard(trainable, weightDecay: o.weightDecay), learningRate: o.learningRate,
                        beta1: 0.9, beta2: 0.999)
        // Probes: features once, standardised with the training set's mean and deviation (as a
        // logistic-regression probe is), then the head alone, trained to convergence.
        var cache: [String: Tensor] = [:]
        var stats: (mean: [Float], invStd: [Float])? = nil
        func feats(_ xs: [ClassificationTask.Example], key: String?, dropout: inout RandomGenerator?) -> Tensor {
            if o.mode == .probe, let key {
                if let f = cache[key] { return f }
                var none: RandomGenerator? = nil
                let f = Autograd.withNoGrad { classifier.features(xs, dropout: &none) }.detached()
                standardize(f, probeStats())
                cache[key] = f
                return f
            }
            return classifier.features(xs, dropout: &dropout)
        }
        func evaluate(_ xs: [ClassificationTask.Example], split: String) -> [Int] {
            var preds: [Int] = []
            Autograd.withNoGrad {
                var none: RandomGenerator? = nil
                var i = 0
                while i < xs.count {
                    let chunk = Array(xs[i..<min(xs.count, i + 32)])
                    preds += predict(classifier.logits(feats(chunk, key: "\(split)-\(i)", dropout: &none)))
                    i += chunk.count
                }
            }
            return preds
        }
        let stepsPerEpoch = (task.train.count + o.batch - 1) / o.batch
        // A probe's steps cost microseconds: it gets enough epochs to converge, judged once per epoch.
        let epochs = o.mode == .probe ? max(o.epochs, FineTuneOptions.probeEpochs) : o.epochs
        let patience = o.mode == .probe ? max(o.patience, 8) : o.patience
        let evalEvery = o.mode == .probe ? stepsPerEpoch : (o.evalEvery > 0 ? o.evalEvery : stepsPerEpoch)
        var best = -1.0, bestSnapshot: [[Float]] = [], sinceBest = 0, step = 0
        var curve: [[Double]] = []
        var stepTime = 0.0
        var dropout: RandomGenerator? = classifier.config.dropout > 0 ? RandomGenerator(seed: o.seed, stream: 5) : nil
        var order = Array(task.train.indices)
        training: for epoch in 0..<epochs {
            rng.shuffle(&order)
            for b in 0..<stepsPerEpoch {
                let idx = Array(order[(b * o.batch)..<min(order.count, (b + 1) * o.batch)])
                let xs = idx.map { task.train[$0] }
                let s0 = Clock.now()
                // Probe batches are keyed by their examples so that features are computed once.
                let key = o.mode == .probe ? "train-\(idx.sorted().map(String.init).joined(separator: ","))" : nil
                let f = o.mode == .probe ? featsProbe(idx) : feats(xs, key: key, dropout: &dropout)
                let loss = classifier.logits(f).crossEntropy(targets: xs.map { Int32($0.label) })
                loss.backward()
                opt.step()
                opt.zeroGrad()
                stepTime += Clock.now() - s0
                step += 1
                if step % evalEvery == 0 || (epoch == epochs - 1 && b == stepsPerEpoch - 1) {
                    let acc = scores(evaluate(task.validation, split: "val"), task.validation.map(\.label), classes: task.labels.count).accuracy
                    curve.append([Double(step), acc])
                    progress?(String(format: "%@ %@: step %d, validation accuracy %.3f", task.name, o.mode.description, step, acc))
                    if acc > best {
                        best = acc; sinceBest = 0
                        bestSnapshot = trainable.map { $0.values }
                    } else {
                        sinceBest += 1
                        if sinceBest >= patience && epoch + 1 >= min(o.minEpochs, epochs) { break training }
                    }
                }
            }
        }
        // Restore the best validation point, then test.
        for (t, v) in zip(trainable, bestSnapshot) { v.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) } }
        let test = scores(evaluate(task.test, split: "test"), task.test.map(\.label), classes: task.labels.count)
        // Fold the standardisation into the head, so that the classifier takes raw features again:
        // W' = W·diag(1/σ), b' = b − W'·μ.
        if let st = stats {
            let C = classifier.head.shape[0], d = classifier.head.shape[1]
            for c in 0..<C {
                let w = classifier.head.data + c * d
                var shift: Float = 0
                for j in 0..<d { w[j] *= st.invStd[j]; shift += w[j] * st.mean[j] }
                classifier.headBias.data[c] -= shift
            }
        }
        return FineTuneResult(task: task.name, mode: o.mode.description, testAccuracy: test.accuracy, testMacroF1: test.macroF1,
                              bestValidationAccuracy: best, trainableParameters: nTrainable, seconds: Clock.now() - t0,
                              stepSeconds: stepTime / Double(max(1, step)), steps: step, majorityBaseline: task.majorityBaseline, curve: curve)

        // Probe features for training examples, computed once per example.
        func featsProbe(_ idx: [Int]) -> Tensor {
            if cache["train-all"] == nil {
                var rows: [Tensor] = []
                var i = 0
                while i < task.train.count {
                    let chunk = Array(task.train[i..<min(task.train.count, i + 32)])
                    var none: RandomGenerator? = nil
                    rows.append(Autograd.withNoGrad { classifier.features(chunk, dropout: &none) }.detached())
                    i += chunk.count
                }
                let all = Autograd.withNoGrad { Tensor.concat(rows, axis: 0) }
                let n = all.rows, d = all.lastDim
                var mean = [Float](repeating: 0, count: d), invStd = [Float](repeating: 0, count: d)
                for j in 0..<d {
                    var m = 0.0, v = 0.0
                    for i in 0..<n { m += Double(all.data[i * d + j]) }
                    m /= Double(max(1, n))
                    for i in 0..<n { let e = Double(all.data[i * d + j]) - m; v += e * e }
                    mean[j] = Float(m); invStd[j] = Float(1 / (v / Double(max(1, n)) + 1e-8).squareRoot())
                }
                stats = (mean, invStd)
                standardize(all, stats!)
                cache["train-all"] = all
            }
            let all = cache["train-all"]!
            return Autograd.withNoGrad { all.gatherRows(idx.map(Int32.init)) }
        }

        func probeStats() -> (mean: [Float], invStd: [Float]) {
            if stats == nil { _ = featsProbe([0]) }
            return stats!
        }

        func standardize(_ f: Tensor, _ st: (mean: [Float], invStd: [Float])) {
            let d = f.lastDim
            for i in 0..<f.rows { let r = f.data + i * d; for j in 0..<d { r[j] = (r[j] - st.mean[j]) * st.invStd[j] } }
        }
    }
}
