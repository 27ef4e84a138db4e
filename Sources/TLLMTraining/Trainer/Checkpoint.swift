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
    public var windowStats: [String: Double] = [:]
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
        windowStats = try c.decodeIfPresent([String: Double].self, forKey: .windowStats) ?? [:]
        nsp = try c.decodeIfPresent(Bool.self, forKey: .nsp) ?? false
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

    /// Saves everything needed to resume.
    public static func save(run: URL, model named: [(String, Tensor)], config: ModelConfig, tokenizerJSON: String,
                            optimizer: AdamW, state: TrainerState) throws {
        let fm = FileManager.default
        let tmp = run.appendingPathComponent("checkpoint.tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try ModelStore.save(named, config: config, to: tmp)
        try AtomicFile.write(tokenizerJSON, to: tmp.appendingPathComponent("tokenizer.json"))
        // Optimizer moments: m.<name>, v.<name> for trainable parameters.
        var moments: [(String, Tensor)] = []
        for (name, p) in named {
            guard let s = optimizer.state(of: p) else { continue }
            moments.append(("m.\(name)", Tensor(shape: p.shape, storage: s.m)))
            moments.append(("v.\(name)", Tensor(shape: p.shape, storage: s.v)))
        }
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
        _ = try JSONParser.parse([UInt8](data), path: url.path)
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch let e as DecodingError {
            throw TLLMError("not a tllm trainer state: \(e)", file: url.path)
        }
    }

    /// Restores model weights and optimizer moments; checks every checksum.
    public static func restore(_ dir: URL, model named: [(String, Tensor)], optimizer: AdamW, state: TrainerState) throws {
        try ModelStore.loadWeights(into: named, from: dir)
        guard String(format: "%016llx", ModelStore.checksum(named)) == state.modelChecksum else {
            throw TLLMError("model.safetensors does not match trainer.json (a different or damaged checkpoint)", file: dir.path)
        }
        let url = dir.appendingPathComponent("trainer-state.safetensors")
        let file = try SafeTensors.read(url)
        var states: [(parameter: Tensor, m: [Float], v: [Float])] = []
        for (name, p) in named where p.requiresGrad {
            guard let m = file.tensors["m.\(name)"], let v = file.tensors["v.\(name)"] else {
                if state.optimizerStep == 0 { continue }
                throw TLLMError("optimizer moments for \(name) are missing", file: url.path)
            }
            guard m.shape == p.shape, v.shape == p.shape else { throw TLLMError("optimizer moments for \(name) have the wrong shape", file: url.path) }
            states.append((p, m.values, v.values))
        }
        optimizer.restore(step: state.optimizerStep, states: states)
        var moments: [(String, Tensor)] = []
        for (name, p) in named {
            guard let s = optimizer.state(of: p) else { continue }
            moments.append(("m.\(name)", Tensor(shape: p.shape, storage: s.m)))
            moments.append(("v.\(name)", Tensor(shape: p.shape, storage: s.v)))
        }
        guard String(format: "%016llx", ModelStore.checksum(moments)) == state.stateChecksum else {
            throw TLLMError("trainer-state.safetensors does not match trainer.json (damaged checkpoint)", file: url.path)
        }
    }
}
