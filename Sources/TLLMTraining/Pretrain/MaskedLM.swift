import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// A corpus cut into tokenized segments (speeches, verses, paragraphs), split into training and
/// validation documents — the units BERT's sentence pairs are made of.
public struct SegmentedCorpus {
    /// `documents[d][s]` = tokens of segment `s` of document `d`.
    public var train: [[[Int32]]]
    public var validation: [[[Int32]]]

    public static func make(_ corpus: Corpus, tokenizer: Tokenizer, validationFraction: Double) -> SegmentedCorpus {
        let held = Set(corpus.validationIndices(fraction: validationFraction))
        var texts: [String] = [], owner: [Int] = []
        for (d, doc) in corpus.documents.enumerated() {
            for s in doc.segments { texts.append(String(decoding: doc.text[s], as: UTF8.self)); owner.append(d) }
        }
        let enc = tokenizer.encodeDocuments(texts)
        var docs = [[[Int32]]](repeating: [], count: corpus.documents.count)
        for (i, e) in enc.enumerated() where !e.isEmpty { docs[owner[i]].append(e) }
        var train: [[[Int32]]] = [], val: [[[Int32]]] = []
        for (d, segs) in docs.enumerated() where !segs.isEmpty { if held.contains(d) { val.append(segs) } else { train.append(segs) } }
        if val.isEmpty, let last = train.popLast() { val = [last] }  // a single-document corpus: hold out its last part
        return SegmentedCorpus(train: train, validation: val)
    }
}

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
    public let model: BERTModel
    let batcher: MaskedLMBatcher
    let evalBatches: [EncoderBatch]
    let tokenBytes: [Int32]

    public init(model: BERTModel, tokenizer: Tokenizer, data: SegmentedCorpus, options: TrainingOptions, nsp: Bool) throws {
        self.model = model
        batcher = try MaskedLMBatcher(documents: data.train, tokenizer: tokenizer, batch: options.batch, length: options.context, nsp: nsp)
        let evalSource = data.validation.count >= 2 || !nsp ? data.validation : data.train
        let ev = try MaskedLMBatcher(documents: evalSource, tokenizer: tokenizer, batch: options.batch, length: options.context, nsp: nsp)
        var rng = RandomGenerator(seed: 4242, stream: RandomGenerator.streamID("mlm-eval"))
        let n = max(1, options.evalTokens / (options.batch * options.context))
        evalBatches = (0..<n).map { _ in ev.next(&rng) }
        tokenBytes = (0..<tokenizer.vocabularySize).map { Int32(tokenizer.bytes(of: Int32($0)).count) }
    }

    public var namedParameters: [(String, Tensor)] { model.namedParameters }
    public var modelConfig: ModelConfig { model.config }
    public var metricNames: [String] { batcher.nsp ? ["mlm_accuracy", "nsp_accuracy"] : ["mlm_accuracy"] }

    /// Loss and statistics of one batch.
    func loss(_ b: EncoderBatch, dropout: inout RandomGenerator?) -> (Tensor, [String: Double], Double) {
        let h = model.encode(b.ids, segments: b.segments, lengths: b.lengths, batch: b.batch, length: b.length, dropout: &dropout)
        let pos = b.maskedPositions
        let targets = pos.map { b.targets[Int($0)] }
        var stats: [String: Double] = [:]
        guard !pos.isEmpty else { return (Tensor(scalar: 0), stats, 0) }
        let logits = model.mlmLogits(h, positions: pos)
        var loss = logits.crossEntropy(targets: targets)
        let mlm = Double(loss.item)
        stats["mlm_accuracy"] = Self.accuracy(logits, targets)
        if batcher.nsp {
            let nl = model.nspLogits(model.pooled(h, batch: b.batch, length: b.length))
            let nspLoss = nl.crossEntropy(targets: b.nextLabels)
            stats["nsp_accuracy"] = Self.accuracy(nl, b.nextLabels)
            stats["nsp_loss"] = Double(nspLoss.item)
            loss = loss + nspLoss
        }
        return (loss, stats, mlm)
    }

    static func accuracy(_ logits: Tensor, _ targets: [Int32]) -> Double {
        let V = logits.lastDim
        var right = 0
        for (i, t) in targets.enumerated() {
            let row = logits.data + i * V
            var best = 0
            for j in 1..<V where row[j] > row[best] { best = j }
            if best == Int(t) { right += 1 }
        }
        return Double(right) / Double(max(1, targets.count))
    }

    public func trainingLoss(data: inout RandomGenerator, dropout: inout RandomGenerator?) -> (loss: Tensor, stats: [String: Double]) {
        let b = batcher.next(&data)
        let (l, s, _) = loss(b, dropout: &dropout)
        return (l, s)
    }

    public func evaluate() -> [String: Double] {
        var nats = 0.0, count = 0, bytes = 0, accSum = 0.0, nspAcc = 0.0, nspLoss = 0.0
        Autograd.withNoGrad {
            var none: RandomGenerator? = nil
            for b in evalBatches {
                let (_, s, mlm) = loss(b, dropout: &none)
                let pos = b.maskedPositions
                nats += mlm * Double(pos.count)
                count += pos.count
                accSum += (s["mlm_accuracy"] ?? 0) * Double(pos.count)
                for p in pos { bytes += Int(tokenBytes[Int(b.targets[Int(p)])]) }
                nspAcc += s["nsp_accuracy"] ?? 0
                nspLoss += s["nsp_loss"] ?? 0
            }
        }
        var out: [String: Double] = ["loss": nats / Double(max(1, count)), "perplexity": Foundation.exp(nats / Double(max(1, count))),
                                     "bpb": nats / Foundation.log(2) / Double(max(1, bytes)), "mlm_accuracy": accSum / Double(max(1, count))]
        if batcher.nsp { out["nsp_accuracy"] = nspAcc / Double(evalBatches.count); out["nsp_loss"] = nspLoss / Double(evalBatches.count) }
        return out
    }

    public func samples(count: Int, tokens: Int, prompt: String, seed: UInt64) -> [String] { [] }
}
