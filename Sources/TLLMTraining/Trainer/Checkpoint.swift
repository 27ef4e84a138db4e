import Foundation
import TLLMCore
import TLLMModels

/// What `trainer.json` records beside the weights and optimizer moments.
public struct TrainerState: Codable, Equatable {
    public var step: Int
    public var tokensSeen: Int
    public var optimizerStep: Int
    public var dataRNG: RandomGenerator
    public var dropoutRNG: RandomGenerator
    public var elapsedSeconds: Double
    public var bestValidationLoss: Double?
    public var options: TrainingOptions
    /// The partial logging window (so that resumed runs log exactly the same rows).
    public var windowLossSum: Double = 0
    public var windowSteps: Int = 0
    public var windowStats = MetricValues()
    /// Masked-LM runs: whether NSP is on.
    public var nsp: Bool = false
    /// Checksums of the two safetensors files, verified on resume.
    public var modelChecksum: String
    public var stateChecksum: String
    public var format = "tllm-trainer-v1"

    public init(step: Int, tokensSeen: Int, optimizerStep: Int, dataRNG: RandomGenerator, dropoutRNG: RandomGenerator,
                elapsedSeconds: Double, bestValidationLoss: Double?, options: TrainingOptions, modelChecksum: String, stateChecksum: String) {
        self.step = step; self.tokensSeen = tokensSeen; self.optimizerStep = optimizerStep; self.dataRNG = dataRNG
        self.dropoutRNG = dropoutRNG; self.elapsedSeconds = elapsedSeconds; self.bestValidationLoss = bestValidationLoss
        self.options = options; self.modelChecksum = modelChecksum; self.stateChecksum = stateChecksum
    }

    /// The fields a resume relies on are in range.
    public func validate() throws {
        try options.validate()
        guard step >= 0, step <= options.steps else { throw TLLMError("step = \(step) must be in 0…\(options.steps) (options.steps)") }
        guard tokensSeen >= 0, optimizerStep >= 0, optimizerStep <= step else { throw TLLMError("tokens_seen and optimizer_step must be in range (optimizer_step ≤ step)") }
        guard elapsedSeconds.isFinite, elapsedSeconds >= 0 else { throw TLLMError("elapsed_seconds must be a non-negative number") }
        guard windowSteps >= 0, windowLossSum.isFinite else { throw TLLMError("window_steps / window_loss_sum are out of range") }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        tokensSeen = try c.decode(Int.self, forKey: .tokensSeen)
        optimizerStep = try c.decode(Int.self, forKey: .optimizerStep)
        dataRNG = try c.decode(RandomGenerator.self, forKey: .dataRNG)
        dropoutRNG = try c.decode(RandomGenerator.self, forKey: .dropoutRNG)
        elapsedSeconds = try c.decode(Double.self, forKey: .elapsedSeconds)
        bestValidationLoss = try c.decodeIfPresent(Double.self, forKey: .bestValidationLoss)
        options = try c.decode(TrainingOptions.self, forKey: .options)
        windowLossSum = try c.decodeIfPresent(Double.self, forKey: .windowLossSum) ?? 0
        windowSteps = try c.decodeIfPresent(Int.self, forKey: .windowSteps) ?? 0
        windowStats = try c.decodeIfPresent(MetricValues.self, forKey: .windowStats) ?? MetricValues()
        nsp = try c.decodeIfPresent(Bool.self, forKey: .nsp) ?? false
        if nsp { options.objective = .masked(nsp: true) }  // runs written before options recorded NSP
        modelChecksum = try c.decode(String.self, forKey: .modelChecksum)
        stateChecksum = try c.decode(String.self, forKey: .stateChecksum)
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? "tllm-trainer-v1"
    }

    enum CodingKeys: String, CodingKey {
        case step, tokensSeen = "tokens_seen", optimizerStep = "optimizer_step", dataRNG = "data_rng"
        case dropoutRNG = "dropout_rng", elapsedSeconds = "elapsed_seconds", bestValidationLoss = "best_validation_loss"
        case options, windowLossSum = "window_loss_sum", windowSteps = "window_steps", windowStats = "window_stats", nsp
        case modelChecksum = "model_checksum", stateChecksum = "state_checksum", format
    }
}

/// A run folder's `checkpoint/`: model, config, tokenizer, optimizer moments and trainer state.
///
/// Saving writes a complete new folder (`checkpoint.tmp-PID`), then swaps it in by two renames
/// (`checkpoint` → `checkpoint.old`, new → `checkpoint`), then deletes the old one. At every instant
/// at least one complete checkpoint exists on disk, so an interrupted save loses nothing.
public enum Checkpoint {
    public static func directory(_ run: URL) -> URL { run.appendingPathComponent("checkpoint") }

    /// Saves everything needed to resume: the model (with its `config.json`), the tokenizer, the
    /// optimizer's per-parameter state and the trainer state.
    public static func save<C: ModelDescription>(run: URL, model named: [(String, Tensor)], config: C, tokenizerJSON: String,
                                                 optimizer: any StatefulOptimizer, state: TrainerState) throws {
        let fm = FileManager.default
        let tmp = run.appendingPathComponent("checkpoint.tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try ModelStore.save(named, config: config, to: tmp)
        try AtomicFile.write(tokenizerJSON, to: tmp.appendingPathComponent("tokenizer.json"))
        let moments = optimizerState(named, optimizer)
        let stateSum = String(format: "%016llx", ModelStore.checksum(moments))
        try withExtendedLifetime(moments) {
            let entries = moments.map { SafeTensors.Entry(name: $0.0, shape: $0.1.shape, values: UnsafeBufferPointer(start: $0.1.data, count: $0.1.count)) }
            try SafeTensors.write(entries, metadata: ["tllm_checksum": stateSum], to: tmp.appendingPathComponent("trainer-state.safetensors"))
        }
        var st = state
        st.modelChecksum = String(format: "%016llx", ModelStore.checksum(named))
        st.stateChecksum = stateSum
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(st), to: tmp.appendingPathComponent("trainer.json"))
        // Swap in.
        let final = directory(run), old = run.appendingPathComponent("checkpoint.old")
        try? fm.removeItem(at: old)
        if fm.fileExists(atPath: final.path) { try fm.moveItem(at: final, to: old) }
        try fm.moveItem(at: tmp, to: final)
        try? fm.removeItem(at: old)
    }

    /// The optimizer's state tensors as `<slot>.<parameter>` (views of its storage).
    static func optimizerState(_ named: [(String, Tensor)], _ optimizer: any StatefulOptimizer) -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for (name, p) in named {
            guard let tensors = optimizer.stateTensors(of: p) else { continue }
            for (slot, s) in zip(optimizer.stateNames, tensors) { out.append(("\(slot).\(name)", Tensor(shape: p.shape, storage: s))) }
        }
        return out
    }

    /// The checkpoint folder to resume from (`checkpoint/`, or `checkpoint.old/` if a save was cut).
    public static func locate(run: URL) throws -> URL {
        let fm = FileManager.default
        for d in [directory(run), run.appendingPathComponent("checkpoint.old")] {
            if fm.fileExists(atPath: d.appendingPathComponent("trainer.json").path) { return d }
        }
        if fm.fileExists(atPath: run.appendingPathComponent("trainer.json").path) { return run }
        throw TLLMError("no checkpoint to resume from (expected checkpoint/trainer.json)", file: run.path)
    }

    /// Reads `trainer.json`.
    public static func readState(_ dir: URL) throws -> TrainerState {
        let url = dir.appendingPathComponent("trainer.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TLLMError("cannot read", file: url.path) }
        let bytes = [UInt8](data)
        let json = try JSONParser.parse(bytes, path: url.path)
        try JSONParser.checkTypes(json, prefix: "", integers: ["step", "tokens_seen", "optimizer_step", "window_steps"],
                                  numbers: ["elapsed_seconds", "window_loss_sum"], data: bytes, path: url.path)
        if let o = json["options"] {
            try JSONParser.checkTypes(o, prefix: "options.", integers: ["batch", "gradient_accumulation", "context", "steps", "warmup_steps", "seed",
                                                                        "eval_every", "eval_tokens", "checkpoint_every", "log_every", "samples", "sample_tokens"],
                                      numbers: ["learning_rate", "min_learning_rate_ratio", "weight_decay", "beta1", "beta2", "gradient_clip", "validation_fraction"],
                                      data: bytes, path: url.path)
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch let e as DecodingError {
            throw TLLMError("not a tllm trainer state: \(ModelStore.describe(e))", file: url.path)
        }
        do { try state.validate() } catch let e as TLLMError { throw TLLMError(e.message, file: url.path) }
        return state
    }

    /// Restores model weights and optimizer state; checks every checksum.
    public static func restore(_ dir: URL, model named: [(String, Tensor)], optimizer: any StatefulOptimizer, state: TrainerState) throws {
        try ModelStore.loadWeights(into: named, from: dir)
        guard String(format: "%016llx", ModelStore.checksum(named)) == state.modelChecksum else {
            throw TLLMError("model.safetensors does not match trainer.json (a different or damaged checkpoint)", file: dir.path)
        }
        let url = dir.appendingPathComponent("trainer-state.safetensors")
        let file = try SafeTensors.read(url)
        var states: [(parameter: Tensor, tensors: [[Float]])] = []
        for (name, p) in named where p.requiresGrad {
            let entries = optimizer.stateNames.map { file.tensors["\($0).\(name)"] }
            guard entries.allSatisfy({ $0 != nil }) else {
                if state.optimizerStep == 0 { continue }
                throw TLLMError("optimizer state for \(name) is missing", file: url.path)
            }
            guard entries.allSatisfy({ $0!.shape == p.shape }) else { throw TLLMError("optimizer state for \(name) has the wrong shape", file: url.path) }
            states.append((p, entries.map { $0!.values }))
        }
        optimizer.restoreState(step: state.optimizerStep, states: states)
        guard String(format: "%016llx", ModelStore.checksum(optimizerState(named, optimizer))) == state.stateChecksum else {
            throw TLLMError("trainer-state.safetensors does not match trainer.json (damaged checkpoint)", file: url.path)
        }
    }
}
