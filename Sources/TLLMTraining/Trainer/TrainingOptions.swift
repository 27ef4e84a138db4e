import Foundation
import TLLMCore

/// Everything that decides a training run besides the architecture; stored in `config.json`
/// and `trainer.json` so that a resumed run continues exactly.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// What the model learns; stored as `"objective": "clm" | "mlm"` (and `"nsp": true`).
    public var objective: Objective = .nextToken
    /// Sequences per micro-batch.
    public var batch: Int = 16
    /// Micro-batches accumulated per optimizer step.
    public var gradientAccumulation: Int = 1
    public var context: Int = 256
    public var learningRate: Float = 1e-3
    /// Final learning rate as a fraction of the peak.
    public var minLearningRateRatio: Float = 0.1
    public var warmupSteps: Int = 100
    /// Total optimizer steps.
    public var steps: Int = 1000
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var gradientClip: Float = 1
    public var seed: UInt64 = 1337
    public var evalEvery: Int = 100
    /// Validation tokens per evaluation.
    public var evalTokens: Int = 65_536
    public var checkpointEvery: Int = 250
    public var logEvery: Int = 10
    /// Samples generated at each evaluation (0 = none).
    public var samples: Int = 2
    public var sampleTokens: Int = 120
    public var samplePrompt: String = "\n"
    public var validationFraction: Double = 0.1
    /// Split each micro-batch across the cores (see ``DataParallelGPT``); decided at plan time.
    public var dataParallel = false
    /// The corpus the run trains on (a bundled name or an absolute path), so that `--resume`
    /// continues on the same data; `nil` in runs written before it was recorded (= Shakespeare).
    public var corpus: String?
    /// Record, at every evaluation, the best head's prefix-matching score and the ICL score on
    /// repeated random token runs (`HeadAnalysis`), as `val_prefix_matching` and `val_icl_score`.
    public var headScores = false

    enum CodingKeys: String, CodingKey {
        case objective, batch, gradientAccumulation = "gradient_accumulation", context
        case learningRate = "learning_rate", minLearningRateRatio = "min_learning_rate_ratio"
        case warmupSteps = "warmup_steps", steps, weightDecay = "weight_decay", beta1, beta2
        case gradientClip = "gradient_clip", seed, evalEvery = "eval_every", evalTokens = "eval_tokens"
        case checkpointEvery = "checkpoint_every", logEvery = "log_every", samples, sampleTokens = "sample_tokens"
        case samplePrompt = "sample_prompt", validationFraction = "validation_fraction", dataParallel = "data_parallel"
        case corpus, nsp, headScores = "head_scores"
    }

    public init() {}

    /// Missing fields take their defaults (files written by earlier versions stay readable).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingOptions()
        func v<T: Decodable>(_ k: CodingKeys, _ def: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? def }
        let name = try v(.objective, "clm")
        guard let o = Objective(name: name, nsp: try v(.nsp, false)) else {
            throw DecodingError.dataCorruptedError(forKey: .objective, in: c, debugDescription: "objective must be clm or mlm, not '\(name)'")
        }
        objective = o; batch = try v(.batch, d.batch)
        gradientAccumulation = try v(.gradientAccumulation, d.gradientAccumulation); context = try v(.context, d.context)
        learningRate = try v(.learningRate, d.learningRate); minLearningRateRatio = try v(.minLearningRateRatio, d.minLearningRateRatio)
        warmupSteps = try v(.warmupSteps, d.warmupSteps); steps = try v(.steps, d.steps); weightDecay = try v(.weightDecay, d.weightDecay)
        beta1 = try v(.beta1, d.beta1); beta2 = try v(.beta2, d.beta2); gradientClip = try v(.gradientClip, d.gradientClip)
        seed = try v(.seed, d.seed); evalEvery = try v(.evalEvery, d.evalEvery); evalTokens = try v(.evalTokens, d.evalTokens)
        checkpointEvery = try v(.checkpointEvery, d.checkpointEvery); logEvery = try v(.logEvery, d.logEvery)
        samples = try v(.samples, d.samples); sampleTokens = try v(.sampleTokens, d.sampleTokens)
        samplePrompt = try v(.samplePrompt, d.samplePrompt); validationFraction = try v(.validationFraction, d.validationFraction)
        dataParallel = try v(.dataParallel, d.dataParallel)
        corpus = try c.decodeIfPresent(String.self, forKey: .corpus)
        headScores = try v(.headScores, d.headScores)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(objective.name, forKey: .objective)
        if objective.usesNSP { try c.encode(true, forKey: .nsp) }
        try c.encode(batch, forKey: .batch); try c.encode(gradientAccumulation, forKey: .gradientAccumulation)
        try c.encode(context, forKey: .context); try c.encode(learningRate, forKey: .learningRate)
        try c.encode(minLearningRateRatio, forKey: .minLearningRateRatio); try c.encode(warmupSteps, forKey: .warmupSteps)
        try c.encode(steps, forKey: .steps); try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(beta1, forKey: .beta1); try c.encode(beta2, forKey: .beta2); try c.encode(gradientClip, forKey: .gradientClip)
        try c.encode(seed, forKey: .seed); try c.encode(evalEvery, forKey: .evalEvery); try c.encode(evalTokens, forKey: .evalTokens)
        try c.encode(checkpointEvery, forKey: .checkpointEvery); try c.encode(logEvery, forKey: .logEvery)
        try c.encode(samples, forKey: .samples); try c.encode(sampleTokens, forKey: .sampleTokens)
        try c.encode(samplePrompt, forKey: .samplePrompt); try c.encode(validationFraction, forKey: .validationFraction)
        try c.encode(dataParallel, forKey: .dataParallel); try c.encodeIfPresent(corpus, forKey: .corpus)
        if headScores { try c.encode(true, forKey: .headScores) }
    }

    /// Tokens consumed per optimizer step.
    public var tokensPerStep: Int { batch * gradientAccumulation * context }

    public var schedule: WarmupCosineSchedule {
        WarmupCosineSchedule(peak: learningRate, minimum: learningRate * minLearningRateRatio,
                             warmupSteps: min(warmupSteps, max(1, steps / 10 + 1)), totalSteps: steps)
    }

    /// Checks every field (also those read back from a `trainer.json`); the message names the field.
    public func validate() throws {
        func need(_ ok: Bool, _ field: String, _ what: String) throws {
            if !ok { throw TLLMError("training option \(field) \(what)") }
        }
        try need((1...65_536).contains(batch), "batch", "= \(batch) must be in 1…65536")
        try need((1...65_536).contains(gradientAccumulation), "gradient_accumulation", "= \(gradientAccumulation) must be in 1…65536")
        try need((1...(1 << 20)).contains(context), "context", "= \(context) must be in 1…1048576")
        try need((1...(1 << 40)).contains(steps), "steps", "= \(steps) must be positive")
        try need(learningRate.isFinite && learningRate > 0, "learning_rate", "= \(learningRate) must be a positive number")
        try need(minLearningRateRatio.isFinite && (0...1).contains(minLearningRateRatio), "min_learning_rate_ratio", "must be in [0, 1]")
        try need(warmupSteps >= 0, "warmup_steps", "must be ≥ 0")
        try need(weightDecay.isFinite && weightDecay >= 0, "weight_decay", "= \(weightDecay) must be ≥ 0")
        try need(beta1.isFinite && (0..<1).contains(beta1) && beta2.isFinite && (0..<1).contains(beta2), "beta1/beta2", "must be in [0, 1)")
        try need(gradientClip.isFinite && gradientClip >= 0, "gradient_clip", "must be ≥ 0")
        try need(evalEvery > 0 && checkpointEvery > 0 && logEvery > 0, "eval_every/checkpoint_every/log_every", "must be positive")
        try need(evalTokens > 0, "eval_tokens", "must be positive")
        try need(samples >= 0 && (0...100_000).contains(sampleTokens), "samples/sample_tokens", "must be ≥ 0")
        try need(validationFraction.isFinite && validationFraction > 0 && validationFraction < 1, "validation_fraction", "= \(validationFraction) must be in (0, 1)")
        try need(batch * gradientAccumulation * context <= 1 << 26, "batch × gradient_accumulation × context", "is too large for one step")
    }
}
