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
    public var onEvaluation: ((Int, [String: Double]) -> Void)?

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
        optimizer = AdamW(groups: ParameterGroup.standard(objective.namedParameters.map(\.1), weightDecay: options.weightDecay),
                          learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2, epsilon: 1e-8)
        let fresh = TrainerState(step: 0, tokensSeen: 0, optimizerStep: 0,
                                 dataRNG: RandomGenerator(seed: options.seed, stream: RandomGenerator.streamID("data")),
                                 dropoutRNG: RandomGenerator(seed: options.seed, stream: RandomGenerator.streamID("dropout")),
                                 elapsedSeconds: 0, bestValidationLoss: nil, options: options, modelChecksum: "", stateChecksum: "")
        if resume {
            let dir = try Checkpoint.locate(run: run)
            let s = try Checkpoint.readState(dir)
            try Checkpoint.restore(dir, model: objective.namedParameters, optimizer: optimizer, state: s)
            state = s
            state.options = options
        } else {
            state = fresh
            state.nsp = (objective.metricNames.contains("nsp_accuracy"))
        }
    }

    var metricColumns: [String] {
        ["step", "tokens", "train_loss", "val_loss", "val_bpb", "lr", "tokens_per_s", "elapsed_s"] + objective.metricNames.flatMap { ["train_\($0)", "val_\($0)"] }
    }

    /// Saves a checkpoint of the current state — never one with non-finite weights (a diverging run
    /// stops instead, keeping the last good checkpoint).
    public func saveCheckpoint() throws {
        for (name, p) in objective.namedParameters {
            let d = p.data
            var finite = true
            for i in 0..<p.count where !d[i].isFinite { finite = false; break }
            guard finite else {
                progress.finish()
                let last = (try? Checkpoint.readState(Checkpoint.locate(run: run)))?.step
                throw TLLMError("the weights became NaN/infinite by step \(state.step) (\(name)); stopped without saving. " +
                                (last.map { "The last good checkpoint (step \($0)) is in \(Checkpoint.directory(run).path)." } ?? "No checkpoint was saved yet.") +
                                " Try a lower --lr.")
            }
        }
        try Checkpoint.save(run: run, model: objective.namedParameters, config: objective.modelConfig,
                            tokenizerJSON: tokenizerJSON, optimizer: optimizer, state: state)
    }

    /// Trains until `options.steps` — or until `stopAt` (then saves a checkpoint to resume from), or
    /// Ctrl-C. Throws on a non-finite loss (after reporting).
    @discardableResult
    public func train(stopAt: Int? = nil) throws -> Summary {
        let fm = FileManager.default
        try fm.createDirectory(at: run, withIntermediateDirectories: true)
        let metrics = try MetricsLog(url: run.appendingPathComponent("metrics.csv"), columns: metricColumns,
                                     resumeAt: state.step > 0 ? state.step : nil)
        defer { metrics.close() }
        let params = objective.namedParameters.map(\.1)
        let schedule = options.schedule
        let accum = options.gradientAccumulation
        var dropout: RandomGenerator? = objective.modelConfig.dropout > 0 ? state.dropoutRNG : nil
        var lastEval: [String: Double] = [:]
        var windowLoss = state.windowLossSum, windowSteps = state.windowSteps
        var windowStats = state.windowStats
        var lastTrainLoss: Double? = nil
        let sessionStart = Clock.now()
        let startElapsed = state.elapsedSeconds
        let startTokens = state.tokensSeen
        var windowStart = Clock.now(), windowTokens = 0
        var tokensPerSecond = 0.0
        Interrupt.install()
        defer { Interrupt.uninstall() }
        var interrupted = false

        let end = min(options.steps, stopAt ?? options.steps)
        while state.step < end {
            let lr = schedule.learningRate(at: state.step)
            optimizer.learningRate = lr
            var stepLoss = 0.0
            var stepStats: [String: Double] = [:]
            for _ in 0..<accum {
                let (l, stats) = objective.accumulateGradients(data: &state.dataRNG, dropout: &dropout, scale: 1 / Float(accum))
                guard l.isFinite else {
                    progress.finish()
                    let last = (try? Checkpoint.readState(Checkpoint.locate(run: run)))?.step
                    throw TLLMError("the loss became \(l.isNaN ? "NaN" : "infinite") at step \(state.step + 1); stopped without saving. " +
                                    (last.map { "The last good checkpoint (step \($0)) is in \(Checkpoint.directory(run).path)." } ?? "No checkpoint was saved yet.") +
                                    " Try a lower --lr.")
                }
                stepLoss += l / Double(accum)
                for (k, v) in stats { stepStats[k, default: 0] += v / Double(accum) }
            }
            if options.gradientClip > 0 { GradientClipping.clip(params, maxNorm: options.gradientClip) }
            optimizer.step()
            optimizer.zeroGrad()
            if let d = dropout { state.dropoutRNG = d }
            state.step += 1
            state.optimizerStep = optimizer.stepCount
            state.tokensSeen += options.tokensPerStep
            windowLoss += stepLoss; windowSteps += 1; windowTokens += options.tokensPerStep
            for (k, v) in stepStats { windowStats[k, default: 0] += v }
            state.elapsedSeconds = startElapsed + (Clock.now() - sessionStart)
            state.windowLossSum = windowLoss; state.windowSteps = windowSteps; state.windowStats = windowStats

            let isLast = state.step == options.steps
            let isEval = state.step % options.evalEvery == 0 || isLast
            let isLog = state.step % options.logEvery == 0 || isEval
            if isEval {
                let t0 = Clock.now()
                lastEval = objective.evaluate()
                if let v = lastEval["loss"], v.isFinite { state.bestValidationLoss = min(state.bestValidationLoss ?? .infinity, v) }
                onEvaluation?(state.step, lastEval)
                if options.samples > 0 {
                    let texts = objective.samples(count: options.samples, tokens: options.sampleTokens, prompt: options.samplePrompt,
                                                  seed: options.seed &+ UInt64(state.step))
                    if !texts.isEmpty { appendSamples(texts) }
                }
                windowStart += Clock.now() - t0  // evaluation time does not count as training throughput
            }
            if isLog {
                let dt = Clock.now() - windowStart
                tokensPerSecond = dt > 0 ? Double(windowTokens) / dt : 0
                let trainLoss = windowLoss / Double(max(1, windowSteps))
                lastTrainLoss = trainLoss
                var row: [String: Double] = ["step": Double(state.step), "tokens": Double(state.tokensSeen), "train_loss": trainLoss,
                                             "lr": Double(lr), "tokens_per_s": tokensPerSecond, "elapsed_s": state.elapsedSeconds]
                for (k, v) in windowStats { row["train_\(k)"] = v / Double(max(1, windowSteps)) }
                if isEval {
                    row["val_loss"] = lastEval["loss"]; row["val_bpb"] = lastEval["bpb"]
                    for k in objective.metricNames { row["val_\(k)"] = lastEval[k] }
                }
                metrics.append(row)
                windowLoss = 0; windowSteps = 0; windowStats = [:]; windowTokens = 0; windowStart = Clock.now()
                state.windowLossSum = 0; state.windowSteps = 0; state.windowStats = [:]
            }
            // Before the first logged window of this session (just after a resume), show the session's rate.
            let sessionSeconds = Clock.now() - sessionStart
            let rate = tokensPerSecond > 0 ? tokensPerSecond : (sessionSeconds > 0 ? Double(state.tokensSeen - startTokens) / sessionSeconds : 0)
            let eta = rate > 0 ? Double((options.steps - state.step) * options.tokensPerStep) / rate : .nan
            var line = String(format: "step %d/%d  loss %.4f", state.step, options.steps, lastTrainLoss ?? stepLoss)
            if let v = lastEval["loss"] { line += String(format: "  val %.4f", v) }
            line += String(format: "  lr %.2e  %.0f tok/s  ETA %@", lr, rate, formatDuration(eta))
            if isEval, let v = lastEval["loss"], !progress.isTerminal || isLast {
                progress.update(line + String(format: "  (val bpb %.3f)", lastEval["bpb"] ?? .nan), force: true)
                _ = v
            } else {
                progress.update(line, force: isLog && state.step % (options.logEvery * 10) == 0)
            }
            let pausing = state.step == end && !isLast
            if state.step % options.checkpointEvery == 0 || isLast || pausing { try saveCheckpoint() }
            if Interrupt.requested {
                interrupted = true
                if state.step % options.checkpointEvery != 0 && !isLast { try saveCheckpoint() }
                progress.message("interrupted: checkpoint saved at step \(state.step) in \(Checkpoint.directory(run).path); continue with --resume \(run.path)")
                break
            }
        }
        progress.finish()
        let seconds = state.elapsedSeconds
        let summary = Summary(steps: state.step, tokens: state.tokensSeen, trainLoss: lastTrainLoss,
                              validationLoss: lastEval["loss"], validationBitsPerByte: lastEval["bpb"],
                              validationPerplexity: lastEval["perplexity"], seconds: seconds,
                              tokensPerSecond: seconds > 0 ? Double(state.tokensSeen) / seconds : 0,
                              parameters: objective.modelConfig.parameters,
                              nonEmbeddingParameters: objective.modelConfig.nonEmbeddingParameters,
                              run: run.path, interrupted: interrupted,
                              extra: lastEval.filter { !["loss", "bpb", "perplexity"].contains($0.key) })
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
