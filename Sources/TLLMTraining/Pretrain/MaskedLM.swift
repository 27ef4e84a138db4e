import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// One encoder batch: ids, segment ids, lengths, MLM targets (−100 = not predicted), NSP labels.
public struct EncoderBatch {
    public var ids: [Int32]
    public var segments: [Int32]
    public var lengths: [Int]
    public var targets: [Int32]
    public var nextLabels: [Int32]
    public var batch: Int
    public var length: Int
    /// Flat positions that carry an MLM target.
    public var maskedPositions: [Int32] { targets.indices.filter { targets[$0] != -100 }.map { Int32($0) } }
}

/// Builds BERT pretraining examples.
///
/// Without NSP: windows of `T − 2` tokens of the document stream, `[CLS] … [SEP]` (RoBERTa's
/// FULL-SENTENCES). With NSP: `[CLS] A [SEP] B [SEP]`, A a run of consecutive segments of a
/// document, B the run that follows it (label 1) half of the time, otherwise a run from another
/// document (label 0); the longer side is truncated first to fit.
/// Masking: each real token is selected with probability 0.15; a selected token becomes `[MASK]`
/// 80% of the time, a random ordinary token 10%, and stays 10%; only selected tokens are predicted.
public struct MaskedLMBatcher {
    public let documents: [[[Int32]]]
    public let batch: Int
    public let length: Int
    public let nsp: Bool
    public let cls: Int32, sep: Int32, mask: Int32, pad: Int32
    public let ordinary: Int
    public var maskProbability = 0.15
    let stream: [Int32]
    let docWeights: [Double]

    public init(documents: [[[Int32]]], tokenizer: Tokenizer, batch: Int, length: Int, nsp: Bool) throws {
        guard let c = tokenizer.specialID("[CLS]"), let s = tokenizer.specialID("[SEP]"), let m = tokenizer.specialID("[MASK]"),
              let p = tokenizer.specialID("[PAD]") else {
            throw TLLMError("masked-LM training needs [CLS], [SEP], [MASK] and [PAD] in the vocabulary (\(tokenizer.name) lacks them)")
        }
        guard documents.count >= 2 || !nsp else { throw TLLMError("next-sentence prediction needs at least two documents") }
        guard length >= 8 else { throw TLLMError("masked-LM sequences need at least 8 positions") }
        self.documents = documents
        self.batch = batch; self.length = length; self.nsp = nsp
        cls = c; sep = s; mask = m; pad = p
        ordinary = tokenizer.ordinaryCount
        stream = documents.flatMap { $0.flatMap { $0 } }
        let sizes = documents.map { Double($0.reduce(0) { $0 + $1.count }) }
        let total = sizes.reduce(0, +)
        var acc = 0.0
        docWeights = sizes.map { acc += $0 / total; return acc }
        guard stream.count > length else { throw TLLMError("the corpus has \(stream.count) tokens, fewer than one sequence of \(length)") }
    }

    func pickDocument(_ rng: inout RandomGenerator, excluding: Int? = nil) -> Int {
        while true {
            let u = rng.nextDouble()
            var lo = 0, hi = docWeights.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if docWeights[mid] < u { lo = mid + 1 } else { hi = mid } }
            if lo != excluding { return lo }
        }
    }

    /// A run of consecutive segments of document `d` from segment `start`, up to about `target` tokens.
    func run(_ d: Int, from start: Int, target: Int) -> (tokens: [Int32], end: Int) {
        var out: [Int32] = []
        var s = start
        while s < documents[d].count && (out.isEmpty || out.count < target) { out += documents[d][s]; s += 1 }
        return (out, s)
    }

    /// One example: tokens, segment ids, NSP label, and the documents A and B came from.
    public func example(_ rng: inout RandomGenerator) -> (tokens: [Int32], segments: [Int32], next: Int32, documentA: Int, documentB: Int) {
        let T = length
        if !nsp {
            let s = rng.nextInt(below: stream.count - (T - 2) + 1)
            let body = Array(stream[s..<(s + T - 2)])
            return ([cls] + body + [sep], [Int32](repeating: 0, count: T), -100, -1, -1)
        }
        let budget = T - 3
        let d = pickDocument(&rng)
        let segs = documents[d]
        let aStart = rng.nextInt(below: max(1, segs.count - 1))
        let aTarget = max(1, budget / 2 + rng.nextInt(below: max(1, budget / 4)) - budget / 8)
        var a: [Int32]
        let segsAfterA: Int
        (a, segsAfterA) = run(d, from: aStart, target: aTarget)
        var b: [Int32]
        var label: Int32
        var docB = d
        if rng.nextInt(below: 2) == 1 && segsAfterA < segs.count {
            b = run(d, from: segsAfterA, target: budget - a.count).tokens
            label = 1
        } else {
            let o = pickDocument(&rng, excluding: d)
            b = run(o, from: rng.nextInt(below: documents[o].count), target: budget - a.count).tokens
            label = 0
            docB = o
        }
        while a.count + b.count > budget {  // truncate the longer side, from the end
            if a.count > b.count { a.removeLast() } else { b.removeLast() }
        }
        let tokens = [cls] + a + [sep] + b + [sep]
        let segIDs = [Int32](repeating: 0, count: a.count + 2) + [Int32](repeating: 1, count: b.count + 1)
        return (tokens, segIDs, label, d, docB)
    }

    /// The next batch (padded to `length`, masked).
    public func next(_ rng: inout RandomGenerator) -> EncoderBatch {
        let T = length
        var ids = [Int32](repeating: pad, count: batch * T), seg = [Int32](repeating: 0, count: batch * T)
        var targets = [Int32](repeating: -100, count: batch * T)
        var lengths: [Int] = [], labels: [Int32] = []
        for b in 0..<batch {
            let e = example(&rng)
            lengths.append(e.tokens.count)
            labels.append(e.next)
            for (t, tok) in e.tokens.enumerated() {
                let i = b * T + t
                ids[i] = tok
                seg[i] = e.segments[t]
                guard tok != cls && tok != sep else { continue }
                if rng.nextDouble() < maskProbability {
                    targets[i] = tok
                    let r = rng.nextDouble()
                    if r < 0.8 { ids[i] = mask } else if r < 0.9 { ids[i] = Int32(rng.nextInt(below: ordinary)) }
                }
            }
        }
        return EncoderBatch(ids: ids, segments: seg, lengths: lengths, targets: targets, nextLabels: labels, batch: batch, length: T)
    }
}

/// BERT pretraining: masked-LM loss, plus next-sentence prediction when enabled (loss = MLM + NSP).
public final class MaskedLMObjective: TrainingObjective {
    public let bert: BERTModel
    let batcher: MaskedLMBatcher
    let evalBatches: [EncoderBatch]
    let tokenBytes: [Int32]

    public init(model: BERTModel, tokenizer: Tokenizer, data: SegmentedCorpus, options: TrainingOptions, nsp: Bool) throws {
        bert = model
        batcher = try MaskedLMBatcher(documents: data.train, tokenizer: tokenizer, batch: options.batch, length: options.context, nsp: nsp)
        let evalSource = data.validation.count >= 2 || !nsp ? data.validation : data.train
        let ev = try MaskedLMBatcher(documents: evalSource, tokenizer: tokenizer, batch: options.batch, length: options.context, nsp: nsp)
        var rng = RandomGenerator(seed: 4242, stream: RandomGenerator.streamID("mlm-eval"))
        let n = max(1, options.evalTokens / (options.batch * options.context))
        evalBatches = (0..<n).map { _ in ev.next(&rng) }
        tokenBytes = (0..<tokenizer.vocabularySize).map { Int32(tokenizer.bytes(of: Int32($0)).count) }
    }

    public var model: Module { bert }
    public var modelConfig: ModelConfig { bert.config }
    public var objective: Objective { .masked(nsp: batcher.nsp) }
    public var reportedMetrics: [TrainingMetric] { batcher.nsp ? [.mlmAccuracy, .nspAccuracy] : [.mlmAccuracy] }

    /// Loss, statistics and the MLM part of the loss of one batch.
    func loss(_ b: EncoderBatch, context: ForwardContext) -> (Tensor, MetricValues, Double) {
        let h = bert.encode(b.ids, segments: b.segments, lengths: b.lengths, batch: b.batch, length: b.length, context: context)
        let pos = b.maskedPositions
        let targets = pos.map { b.targets[Int($0)] }
        var stats = MetricValues()
        guard !pos.isEmpty else { return (Tensor(scalar: 0), stats, 0) }
        let logits = bert.mlmLogits(h, positions: pos)
        var loss = logits.crossEntropy(targets: targets)
        let mlm = Double(loss.item)
        stats[.mlmAccuracy] = Metrics.accuracy(Metrics.argmaxRows(logits), targets.map(Int.init))
        if batcher.nsp {
            let nl = bert.nspLogits(bert.pooled(h, batch: b.batch, length: b.length))
            let nspLoss = nl.crossEntropy(targets: b.nextLabels)
            stats[.nspAccuracy] = Metrics.accuracy(Metrics.argmaxRows(nl), b.nextLabels.map(Int.init))
            stats[.nspLoss] = Double(nspLoss.item)
            loss = loss + nspLoss
        }
        return (loss, stats, mlm)
    }

    public func trainingLoss(data: inout RandomGenerator, context: ForwardContext) -> (loss: Tensor, stats: MetricValues) {
        let b = batcher.next(&data)
        let (l, s, _) = loss(b, context: context)
        return (l, s)
    }

    public func evaluate() -> MetricValues {
        var nats = 0.0, count = 0, bytes = 0, accSum = 0.0, nspAcc = 0.0, nspLoss = 0.0
        Autograd.withNoGrad {
            for b in evalBatches {
                let (_, s, mlm) = loss(b, context: .inference)
                let pos = b.maskedPositions
                nats += mlm * Double(pos.count)
                count += pos.count
                accSum += (s[.mlmAccuracy] ?? 0) * Double(pos.count)
                for p in pos { bytes += Int(tokenBytes[Int(b.targets[Int(p)])]) }
                nspAcc += s[.nspAccuracy] ?? 0
                nspLoss += s[.nspLoss] ?? 0
            }
        }
        let n = Double(max(1, count))
        var out = MetricValues([.loss: nats / n, .perplexity: Foundation.exp(nats / n),
                                .bitsPerByte: nats / Foundation.log(2) / Double(max(1, bytes)), .mlmAccuracy: accSum / n])
        if batcher.nsp { out[.nspAccuracy] = nspAcc / Double(evalBatches.count); out[.nspLoss] = nspLoss / Double(evalBatches.count) }
        return out
    }

    public func samples(count: Int, tokens: Int, prompt: String, seed: UInt64) -> [String] { [] }
}
