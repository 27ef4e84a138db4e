import Foundation
import TLLMCore
import TLLMModels

/// The training loop shared by every objective:
///
///     for each step: lr ← schedule(step)
///                    repeat accumulation times: loss ← objective(micro-batch); backward(loss / accumulation)
///                    clip gradients (global norm); AdamW step; zero gradients
///                    log · evaluate · sample · checkpoint (every N steps, at the end, on Ctrl-C)
///
/// Runs are exactly resumable: the data and dropout generators, the optimizer moments and the step
/// are checkpointed, so N steps + resume + M steps gives the same bits as N + M steps.
public final class Trainer {
    public let objective: TrainingObjective
    public let options: TrainingOptions
    public let run: URL
    public let tokenizerJSON: String
    public let optimizer: AdamW
    public var progress = ProgressDisplay()
    /// Called after every evaluation with (step, metrics).
    public var onEvaluation: ((Int, MetricValues) -> Void)?

    public private(set) var state: TrainerState

    /// The result of a run.
    public struct Summary: Codable {
        public var steps: Int
        public var tokens: Int
        public var trainLoss: Double?
        public var validationLoss: Double?
        public var validationBitsPerByte: Double?
        public var validationPerplexity: Double?
        public var seconds: Double
        public var tokensPerSecond: Double
        public var parameters: Int
        public var nonEmbeddingParameters: Int
        public var run: String
        public var interrupted: Bool
        public var extra: [String: Double]

        enum CodingKeys: String, CodingKey {
            case steps, tokens, trainLoss = "train_loss", validationLoss = "val_loss", validationBitsPerByte = "val_bpb"
            case validationPerplexity = "val_perplexity", seconds, tokensPerSecond = "tokens_per_s", parameters
            case nonEmbeddingParameters = "non_embedding_parameters", run, interrupted, extra
        }
    }

    /// A new run (`resume == false`) or the continuation of the checkpoint in `run`.
    public init(objective: TrainingObjective, options: TrainingOptions, run: URL, tokenizerJSON: String, resume: Bool) throws {
        try options.validate()
        self.objective = objective
        self.options = options
        self.run = run
        self.tokenizerJSON = tokenizerJSON
        optimizer = AdamW(groups: ParameterGroup.standard(objective.model.parameters, weightDecay: options.weightDecay),
                          learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2, epsilon: 1e-8)
        if resume {
            let dir = try Checkpoint.locate(run: run)
            let s = try Checkpoint.readState(dir)
            try Checkpoint.restore(dir, model: objective.namedParameters, optimizer: optimizer, state: s)
            state = s
            state.options = options
        } else {
            state = TrainerState(step: 0, tokensSeen: 0, optimizerStep: 0,
                                 dataRNG: RandomGenerator(seed: options.seed, stream: RandomGenerator.streamID("data")),
                                 dropoutRNG: RandomGenerator(seed: options.seed, stream: RandomGenerator.streamID("dropout")),
                                 elapsedSeconds: 0, bestValidationLoss: nil, options: options, modelChecksum: "", stateChecksum: "")
            state.nsp = objective.objective.usesNSP
        }
    }

    var metricColumns: [String] {
        ["step", "tokens", "train_loss", "val_loss", "val_bpb", "lr", "tokens_per_s", "elapsed_s"]
            + objective.reportedMetrics.flatMap { ["train_\($0.rawValue)", "val_\($0.rawValue)"] }
    }

    /// "stopped without saving" with where the last good checkpoint is.
    func divergence(_ what: String) -> TLLMError {
        progress.finish()
        let last = (try? Checkpoint.readState(Checkpoint.locate(run: run)))?.step
        return TLLMError("\(what); stopped without saving. " +
                         (last.map { "The last good checkpoint (step \($0)) is in \(Checkpoint.directory(run).path)." } ?? "No checkpoint was saved yet.") +
                         " Try a lower --lr.")
    }

    /// Saves a checkpoint of the current state — never one with non-finite weights (a diverging run
    /// stops instead, keeping the last good checkpoint).
    public func saveCheckpoint() throws {
        for (name, p) in objective.namedParameters {
            let d = p.data
            for i in 0..<p.count where !d[i].isFinite {
                throw divergence("the weights became NaN/infinite by step \(state.step) (\(name))")
            }
        }
        try Checkpoint.save(run: run, model: objective.namedParameters, config: objective.modelConfig,
                            tokenizerJSON: tokenizerJSON, optimizer: optimizer, state: state)
    }

    // MARK: - The loop

    /// What one session of ``train(stopAt:)`` tracks beside the checkpointed state.
    struct Session {
        let start = Clock.now()
        let startElapsed: Double
        let startTokens: Int
        var windowStart = Clock.now()
        var windowTokens = 0
        var tokensPerSecond = 0.0
        var lastEval = MetricValues()
        var lastTrainLoss: Double?
        var interrupted = false
    }

    /// Trains until `options.steps` — or until `stopAt` (then saves a checkpoint to resume from), or
    /// Ctrl-C. Throws on a non-finite loss (after reporting).
    @discardableResult
    public func train(stopAt: Int? = nil) throws -> Summary {
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let metrics = try MetricsLog(url: run.appendingPathComponent("metrics.csv"), columns: metricColumns,
                                     resumeAt: state.step > 0 ? state.step : nil)
        defer { metrics.close() }
        let context = ForwardContext.training(rng: objective.modelConfig.dropout > 0 ? state.dropoutRNG : nil)
        var session = Session(startElapsed: state.elapsedSeconds, startTokens: state.tokensSeen)
        Interrupt.install()
        defer { Interrupt.uninstall() }
        let end = min(options.steps, stopAt ?? options.steps)
        while state.step < end {
            let lr = options.schedule.learningRate(at: state.step)
            let stepLoss = try step(learningRate: lr, context: context, session: &session)
            let isLast = state.step == options.steps
            let isEval = state.step % options.evalEvery == 0 || isLast
            let isLog = state.step % options.logEvery == 0 || isEval
            if isEval { evaluate(&session) }
            if isLog { log(learningRate: lr, isEval: isEval, to: metrics, session: &session) }
            showProgress(learningRate: lr, stepLoss: stepLoss, isEval: isEval, isLog: isLog, isLast: isLast, session: session)
            if state.step % options.checkpointEvery == 0 || isLast || (state.step == end && !isLast) { try saveCheckpoint() }
            if Interrupt.requested {
                session.interrupted = true
                if state.step % options.checkpointEvery != 0 && !isLast { try saveCheckpoint() }
                progress.message("interrupted: checkpoint saved at step \(state.step) in \(Checkpoint.directory(run).path); continue with --resume \(run.path)")
                break
            }
        }
        progress.finish()
        return try writeSummary(session)
    }

    /// One optimizer step over `gradientAccumulation` micro-batches; returns the step's mean loss.
    func step(learningRate lr: Float, context: ForwardContext, session: inout Session) throws -> Double {
        optimizer.learningRate = lr
        let accum = options.gradientAccumulation
        var stepLoss = 0.0
        var stepStats = MetricValues()
        for _ in 0..<accum {
            let (l, stats) = objective.accumulateGradients(data: &state.dataRNG, context: context, scale: 1 / Float(accum))
            guard l.isFinite else { throw divergence("the loss became \(l.isNaN ? "NaN" : "infinite") at step \(state.step + 1)") }
            stepLoss += l / Double(accum)
            stepStats.add(stats, dividedBy: Double(accum))
        }
        if options.gradientClip > 0 { GradientClipping.clip(objective.model.parameters, maxNorm: options.gradientClip) }
        optimizer.step()
        optimizer.zeroGrad()
        if let d = context.rng { state.dropoutRNG = d }
        state.step += 1
        state.optimizerStep = optimizer.stepCount
        state.tokensSeen += options.tokensPerStep
        state.windowLossSum += stepLoss
        state.windowSteps += 1
        state.windowStats.add(stepStats)
        session.windowTokens += options.tokensPerStep
        state.elapsedSeconds = session.startElapsed + (Clock.now() - session.start)
        return stepLoss
    }

    /// Validation metrics and samples; their time does not count as training throughput.
    func evaluate(_ session: inout Session) {
        let t0 = Clock.now()
        session.lastEval = objective.evaluate()
        if let v = session.lastEval[.loss], v.isFinite { state.bestValidationLoss = min(state.bestValidationLoss ?? .infinity, v) }
        onEvaluation?(state.step, session.lastEval)
        if options.samples > 0 {
            let texts = objective.samples(count: options.samples, tokens: options.sampleTokens, prompt: options.samplePrompt,
                                          seed: options.seed &+ UInt64(state.step))
            if !texts.isEmpty { appendSamples(texts) }
        }
        session.windowStart += Clock.now() - t0
    }

    /// A `metrics.csv` row for the window since the last one; starts a new window.
    func log(learningRate lr: Float, isEval: Bool, to metrics: MetricsLog, session: inout Session) {
        let dt = Clock.now() - session.windowStart
        session.tokensPerSecond = dt > 0 ? Double(session.windowTokens) / dt : 0
        let steps = Double(max(1, state.windowSteps))
        let trainLoss = state.windowLossSum / steps
        session.lastTrainLoss = trainLoss
        var row: [String: Double] = ["step": Double(state.step), "tokens": Double(state.tokensSeen), "train_loss": trainLoss,
                                     "lr": Double(lr), "tokens_per_s": session.tokensPerSecond, "elapsed_s": state.elapsedSeconds]
        for (k, v) in state.windowStats.divided(by: steps).byName { row["train_\(k)"] = v }
        if isEval {
            row["val_loss"] = session.lastEval[.loss]; row["val_bpb"] = session.lastEval[.bitsPerByte]
            for m in objective.reportedMetrics { row["val_\(m.rawValue)"] = session.lastEval[m] }
        }
        metrics.append(row)
        session.windowTokens = 0
        session.windowStart = Clock.now()
        state.windowLossSum = 0; state.windowSteps = 0; state.windowStats = MetricValues()
    }

    /// The live progress line (a plain line at evaluations when not on a terminal).
    func showProgress(learningRate lr: Float, stepLoss: Double, isEval: Bool, isLog: Bool, isLast: Bool, session: Session) {
        // Before the first logged window of this session (just after a resume), show the session's rate.
        let sessionSeconds = Clock.now() - session.start
        let rate = session.tokensPerSecond > 0 ? session.tokensPerSecond
            : (sessionSeconds > 0 ? Double(state.tokensSeen - session.startTokens) / sessionSeconds : 0)
        let eta = rate > 0 ? Double((options.steps - state.step) * options.tokensPerStep) / rate : .nan
        var line = String(format: "step %d/%d  loss %.4f", state.step, options.steps, session.lastTrainLoss ?? stepLoss)
        if let v = session.lastEval[.loss] { line += String(format: "  val %.4f", v) }
        line += String(format: "  lr %.2e  %.0f tok/s  ETA %@", lr, rate, formatDuration(eta))
        if isEval, session.lastEval[.loss] != nil, !progress.isTerminal || isLast {
            progress.update(line + String(format: "  (val bpb %.3f)", session.lastEval[.bitsPerByte] ?? .nan), force: true)
        } else {
            progress.update(line, force: isLog && state.step % (options.logEvery * 10) == 0)
        }
    }

    /// `summary.json` of the run so far.
    func writeSummary(_ session: Session) throws -> Summary {
        let seconds = state.elapsedSeconds
        let e = session.lastEval
        var extra = e.byName
        for m in [TrainingMetric.loss, .bitsPerByte, .perplexity] { extra[m.rawValue] = nil }
        let summary = Summary(steps: state.step, tokens: state.tokensSeen, trainLoss: session.lastTrainLoss,
                              validationLoss: e[.loss], validationBitsPerByte: e[.bitsPerByte], validationPerplexity: e[.perplexity],
                              seconds: seconds, tokensPerSecond: seconds > 0 ? Double(state.tokensSeen) / seconds : 0,
                              parameters: objective.modelConfig.parameters, nonEmbeddingParameters: objective.modelConfig.nonEmbeddingParameters,
                              run: run.path, interrupted: session.interrupted, extra: extra)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(summary), to: run.appendingPathComponent("summary.json"))
        return summary
    }

    func appendSamples(_ texts: [String]) {
        let url = run.appendingPathComponent("samples.txt")
        var s = "=== step \(state.step) ===\n"
        for (k, t) in texts.enumerated() { s += "--- sample \(k + 1)\n\(t)\n" }
        if let h = try? FileHandle(forWritingTo: url) {
            h.seekToEndOfFile(); h.write(Data(s.utf8)); try? h.close()
        } else {
            try? AtomicFile.write(s, to: url)
        }
    }
}
