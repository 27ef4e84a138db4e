import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// What a trainer optimises: it draws micro-batches, returns their loss on the tape, and
/// evaluates on held-out data. Causal LM here; masked LM (+NSP) and classification elsewhere.
public protocol TrainingObjective: AnyObject {
    /// The parameters with their checkpoint names.
    var namedParameters: [(String, Tensor)] { get }
    var modelConfig: ModelConfig { get }
    /// Extra metric columns (beyond loss and bits per byte) this objective reports.
    var metricNames: [String] { get }
    /// One micro-batch: the mean loss (recorded for backward) and statistics by name.
    func trainingLoss(data: inout RandomGenerator, dropout: inout RandomGenerator?) -> (loss: Tensor, stats: [String: Double])
    /// Validation metrics: at least `loss` (nats per predicted token) and `bpb`.
    func evaluate() -> [String: Double]
    /// A few generated texts for the log (empty for models that do not generate).
    func samples(count: Int, tokens: Int, prompt: String, seed: UInt64) -> [String]
    /// One micro-batch's forward and backward (gradients scaled by `scale`); returns the loss value.
    func accumulateGradients(data: inout RandomGenerator, dropout: inout RandomGenerator?, scale: Float) -> (loss: Double, stats: [String: Double])
}

extension TrainingObjective {
    public func accumulateGradients(data: inout RandomGenerator, dropout: inout RandomGenerator?, scale: Float) -> (loss: Double, stats: [String: Double]) {
        let (loss, stats) = trainingLoss(data: &data, dropout: &dropout)
        let l = Double(loss.item)
        if l.isFinite { loss.backward(seed: scale) }
        return (l, stats)
    }
}

/// Next-token prediction on random windows of the training stream.
public final class CausalLMObjective: TrainingObjective {
    public let model: GPTModel
    public let tokenizer: Tokenizer
    let batcher: CLMBatcher
    let evalBatches: [(inputs: [Int32], targets: [Int32])]
    let tokenBytes: [Int32]
    let parallel: DataParallelGPT?

    public init(model: GPTModel, tokenizer: Tokenizer, data: TokenizedCorpus, options: TrainingOptions) throws {
        self.model = model
        parallel = options.dataParallel ? DataParallelGPT(model: model) : nil
        self.tokenizer = tokenizer
        batcher = try CLMBatcher(tokens: data.train, batch: options.batch, length: options.context)
        let valStream = data.validation.count > options.context + 1 ? data.validation : Array(data.train.suffix(options.context * 8 + 1))
        evalBatches = CLMBatcher.evaluationBatches(valStream, batch: options.batch, length: options.context, maxTokens: options.evalTokens)
        tokenBytes = data.tokenBytes
    }

    public var namedParameters: [(String, Tensor)] { model.namedParameters }
    public var modelConfig: ModelConfig { model.config }
    public var metricNames: [String] { [] }

    public func trainingLoss(data: inout RandomGenerator, dropout: inout RandomGenerator?) -> (loss: Tensor, stats: [String: Double]) {
        let (x, y) = batcher.next(&data)
        return (model.loss(x, targets: y, batch: batcher.batch, length: batcher.length, dropout: &dropout), [:])
    }

    public func accumulateGradients(data: inout RandomGenerator, dropout: inout RandomGenerator?, scale: Float) -> (loss: Double, stats: [String: Double]) {
        guard let parallel else {
            let (loss, stats) = trainingLoss(data: &data, dropout: &dropout)
            let l = Double(loss.item)
            if l.isFinite { loss.backward(seed: scale) }
            return (l, stats)
        }
        let (x, y) = batcher.next(&data)
        return (parallel.accumulate(inputs: x, targets: y, batch: batcher.batch, length: batcher.length, scale: scale, dropout: &dropout), [:])
    }

    public func evaluate() -> [String: Double] {
        var nats = 0.0, tokens = 0, bytes = 0
        Autograd.withNoGrad {
            var none: RandomGenerator? = nil
            for (x, y) in evalBatches {
                let b = x.count / batcher.length
                let l = model.loss(x, targets: y, batch: b, length: batcher.length, dropout: &none)
                nats += Double(l.item) * Double(y.count)
                tokens += y.count
                for t in y { bytes += Int(tokenBytes[Int(t)]) }
            }
        }
        let loss = nats / Double(max(1, tokens))
        return ["loss": loss, "bpb": nats / Foundation.log(2) / Double(max(1, bytes)), "perplexity": Foundation.exp(loss)]
    }

    public func samples(count: Int, tokens: Int, prompt: String, seed: UInt64) -> [String] {
        guard count > 0 else { return [] }
        let gen = Generator(model: model)
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
