import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// What a trainer optimises: it draws micro-batches, returns their loss on the tape, and
/// evaluates on held-out data. Causal LM here; masked LM (+NSP) in `Pretrain/`.
public protocol TrainingObjective: AnyObject {
    /// The model being trained (its parameters, checkpoint names and configuration).
    var model: Module { get }
    var modelConfig: ModelConfig { get }
    var objective: Objective { get }
    /// Metrics beyond loss and bits per byte that get their own `metrics.csv` columns.
    var reportedMetrics: [TrainingMetric] { get }
    /// One micro-batch: the mean loss (recorded for backward) and statistics.
    func trainingLoss(data: inout RandomGenerator, context: ForwardContext) -> (loss: Tensor, stats: MetricValues)
    /// Validation metrics: at least `loss` (nats per predicted token) and `bpb`.
    func evaluate() -> MetricValues
    /// A few generated texts for the log (empty for models that do not generate).
    func samples(count: Int, tokens: Int, prompt: String, seed: UInt64) -> [String]
    /// One micro-batch's forward and backward (gradients scaled by `scale`); returns the loss value.
    func accumulateGradients(data: inout RandomGenerator, context: ForwardContext, scale: Float) -> (loss: Double, stats: MetricValues)
}

extension TrainingObjective {
    public var namedParameters: [(String, Tensor)] { model.namedParameters }

    public func accumulateGradients(data: inout RandomGenerator, context: ForwardContext, scale: Float) -> (loss: Double, stats: MetricValues) {
        let (loss, stats) = trainingLoss(data: &data, context: context)
        let l = Double(loss.item)
        if l.isFinite { loss.backward(seed: scale) }
        return (l, stats)
    }
}

/// Next-token prediction on random windows of the training stream.
public final class CausalLMObjective: TrainingObjective {
    public let gpt: GPTModel
    public let tokenizer: Tokenizer
    let batcher: CLMBatcher
    let evalBatches: [(inputs: [Int32], targets: [Int32])]
    let tokenBytes: [Int32]
    let parallel: DataParallelGPT?
    /// Repeated random runs for the head scores (`TrainingOptions.headScores`), and their period.
    let headProbes: [[Int32]]?
    let headPeriod: Int

    public init(model: GPTModel, tokenizer: Tokenizer, data: TokenizedCorpus, options: TrainingOptions) throws {
        gpt = model
        parallel = options.dataParallel ? DataParallelGPT(model: model) : nil
        self.tokenizer = tokenizer
        batcher = try CLMBatcher(tokens: data.train, batch: options.batch, length: options.context)
        guard data.validation.count > options.context + 1 else {
            throw TLLMError("the validation split has \(data.validation.count) tokens, fewer than one window of \(options.context + 1); "
                            + "use a larger --val-fraction, a shorter --context or a longer corpus (validation loss is never computed on training tokens)")
        }
        evalBatches = CLMBatcher.evaluationBatches(data.validation, batch: options.batch, length: options.context, maxTokens: options.evalTokens)
        tokenBytes = data.tokenBytes
        headPeriod = min(25, options.context / 2)
        headProbes = options.headScores
            ? HeadAnalysis.repeatedRandomSequences(tokens: 0..<model.config.vocabSize, period: headPeriod, count: 8, seed: options.seed)
            : nil
    }

    public var model: Module { gpt }
    public var modelConfig: ModelConfig { gpt.config }
    public var objective: Objective { .nextToken }
    public var reportedMetrics: [TrainingMetric] { headProbes == nil ? [] : [.prefixMatching, .inContextScore] }

    public func trainingLoss(data: inout RandomGenerator, context: ForwardContext) -> (loss: Tensor, stats: MetricValues) {
        let (x, y) = batcher.next(&data)
        return (gpt.loss(x, targets: y, batch: batcher.batch, length: batcher.length, context: context), MetricValues())
    }

    public func accumulateGradients(data: inout RandomGenerator, context: ForwardContext, scale: Float) -> (loss: Double, stats: MetricValues) {
        guard let parallel else {
            let (loss, stats) = trainingLoss(data: &data, context: context)
            let l = Double(loss.item)
            if l.isFinite { loss.backward(seed: scale) }
            return (l, stats)
        }
        let (x, y) = batcher.next(&data)
        return (parallel.accumulate(inputs: x, targets: y, batch: batcher.batch, length: batcher.length, scale: scale, context: context),
                MetricValues())
    }

    public func evaluate() -> MetricValues {
        var nats = 0.0, tokens = 0, bytes = 0
        Autograd.withNoGrad {
            for (x, y) in evalBatches {
                let b = x.count / batcher.length
                let l = gpt.loss(x, targets: y, batch: b, length: batcher.length, context: .inference)
                nats += Double(l.item) * Double(y.count)
                tokens += y.count
                for t in y { bytes += Int(tokenBytes[Int(t)]) }
            }
        }
        let loss = nats / Double(max(1, tokens))
        var values: [TrainingMetric: Double] = [.loss: loss, .bitsPerByte: nats / Foundation.log(2) / Double(max(1, bytes)), .perplexity: Foundation.exp(loss)]
        if let headProbes {
            let r = HeadAnalysis.report(gpt, sequences: headProbes, period: headPeriod)
            values[.prefixMatching] = r.heads.map(\.prefixMatching).max()
            values[.inContextScore] = r.iclScore
        }
        return MetricValues(values)
    }

    public func samples(count: Int, tokens: Int, prompt: String, seed: UInt64) -> [String] {
        guard count > 0 else { return [] }
        let gen = Generator(model: gpt)
        let eot = tokenizer.specialID("<|endoftext|>")
        var p = tokenizer.encode(prompt)
        if p.isEmpty { p = [eot ?? 0] }
        return (0..<count).map { k in
            let out = gen.generate(prompt: p, maxTokens: tokens, options: SamplingOptions(temperature: 0.8, topK: 200),
                                   seed: seed &+ UInt64(k), stopAt: eot.map { [$0] } ?? [])
            return prompt + tokenizer.decode(out.filter { $0 != eot })
        }
    }
}
