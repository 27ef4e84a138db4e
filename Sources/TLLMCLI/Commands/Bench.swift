import Foundation
import TLLMCore
import TLLMModels
import TLLMTraining

/// Architecture flags shared by bench commands.
func benchConfig(_ args: Arguments) throws -> ModelConfig {
    var c = ModelConfig(vocabSize: try args.int("--vocab-size", default: 8192), context: try args.int("--context", default: 256),
                        layers: try args.int("--layers", default: 6), dModel: try args.int("--d-model", default: 384),
                        heads: try args.int("--heads", default: 6))
    if let n = args.string("--norm") {
        guard let v = ModelConfig.Norm(rawValue: n) else { throw CLIError("--norm must be layernorm or rmsnorm") }
        c.norm = v
    }
    if let a = args.string("--activation") {
        guard let v = ModelConfig.Activation(rawValue: a) else { throw CLIError("--activation must be gelu or swiglu") }
        c.activation = v
        c.mlpHidden = v == .gelu ? 4 * c.dModel : ModelConfig.swigluHidden(c.dModel)
    }
    if let p = args.string("--positions") {
        guard let v = ModelConfig.Positions(rawValue: p) else { throw CLIError("--positions must be learned or rope") }
        c.positions = v
    }
    try c.validate()
    return c
}

let benchArchOptions: [OptionSpec] = [
    OptionSpec(name: "--vocab-size", value: "V", help: "vocabulary size", defaultValue: "8192"),
    OptionSpec(name: "--layers", value: "L", help: "transformer blocks", defaultValue: "6"),
    OptionSpec(name: "--d-model", value: "D", help: "model width", defaultValue: "384"),
    OptionSpec(name: "--heads", value: "H", help: "attention heads", defaultValue: "6"),
    OptionSpec(name: "--context", value: "T", help: "sequence length", defaultValue: "256"),
    OptionSpec(name: "--norm", value: "N", help: "layernorm or rmsnorm"),
    OptionSpec(name: "--activation", value: "A", help: "gelu or swiglu"),
    OptionSpec(name: "--positions", value: "P", help: "learned or rope"),
    OptionSpec(name: "--threads", value: "N", help: "threads"),
    OptionSpec(name: "--json", value: nil, help: "print one JSON object"),
]

enum BenchTrainCommand: Command {
    static let spec = CommandSpec(
        name: "bench train",
        summary: "time GPT training steps on random tokens (tokens/s, GFLOP/s, MFU, peak RSS)",
        usage: "[--vocab-size V --layers L --d-model D --heads H --context T] [--batch B] [--steps N] [--json]",
        options: benchArchOptions + [
            OptionSpec(name: "--batch", value: "B", help: "sequences per step", defaultValue: "16"),
            OptionSpec(name: "--steps", value: "N", help: "timed steps (after 2 warm-up steps)", defaultValue: "10"),
            OptionSpec(name: "--peak-gflops", value: "G", help: "sgemm peak for MFU (default: measured now)"),
            OptionSpec(name: "--data-parallel", value: "M", help: "auto, on or off: split the batch across cores", defaultValue: "auto"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        let c = try benchConfig(args)
        let r = try TrainBenchmark.run(config: c, batch: try args.int("--batch", default: 16),
                                       steps: try args.int("--steps", default: 10), peakGEMM: try args.double("--peak-gflops"),
                                       dataParallel: try parseDataParallel(args.string("--data-parallel", default: "auto")))
        if args.has("--json") { printJSON(encodable: r); return }
        print("model: \(formatCount(r.parameters)) parameters (\(formatCount(r.nonEmbeddingParameters)) non-embedding), \(c.layers) layers, d \(c.dModel), \(c.heads) heads, context \(c.context), vocab \(c.vocabSize)")
        print(String(format: "step: %.3f s   tokens/s: %.0f   model GFLOP/s: %.1f   MFU: %.1f%% of %.1f GFLOP/s sgemm peak   peak RSS: %.2f GiB%@",
                     r.stepSeconds, r.tokensPerSecond, r.gflops, 100 * r.mfu, r.peakGEMMGflops, Double(r.peakRSSBytes) / Double(1 << 30),
                     r.dataParallel ? "   (data-parallel)" : ""))
    }
}

enum BenchNumericsCommand: Command {
    static let spec = CommandSpec(
        name: "bench numerics",
        summary: "write initial weights, batches, first-batch gradients and 50 training losses for bench/pytorch_check.py",
        usage: "[--vocab-size V --layers L --d-model D --heads H --context T] [--batch B] [--steps 50] -o DIR",
        options: benchArchOptions + [
            OptionSpec(name: "--batch", value: "B", help: "sequences per step", defaultValue: "8"),
            OptionSpec(name: "--steps", value: "N", help: "AdamW steps to record", defaultValue: "50"),
            OptionSpec(name: "--lr", value: "LR", help: "constant learning rate", defaultValue: "1e-3"),
            OptionSpec(name: "-o", value: "DIR", help: "output folder"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let out = args.string("-o") else { throw CLIError("tllm bench numerics: -o DIR is required") }
        try NumericsDump.run(config: try benchConfig(args), batch: try args.int("--batch", default: 8), steps: try args.int("--steps", default: 50),
                             learningRate: Float(try args.double("--lr", default: 1e-3)), to: URL(fileURLWithPath: out))
        Log.info("wrote \(out): model.safetensors, config.json, batches.bin, first-batch.safetensors, run.json")
    }
}

enum BenchOpsCommand: Command {
    static let spec = CommandSpec(
        name: "bench ops",
        summary: "time each op of a GPT layer, forward and backward (ms)",
        usage: "[--tokens 4096] [--d-model 384] [--heads 6] [--context 256] [--vocab-size 8192] [--json]",
        options: [
            OptionSpec(name: "--tokens", value: "N", help: "rows (batch × context)", defaultValue: "4096"),
            OptionSpec(name: "--d-model", value: "D", help: "width", defaultValue: "384"),
            OptionSpec(name: "--heads", value: "H", help: "heads", defaultValue: "6"),
            OptionSpec(name: "--context", value: "T", help: "sequence length", defaultValue: "256"),
            OptionSpec(name: "--vocab-size", value: "V", help: "vocabulary", defaultValue: "8192"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
            OptionSpec(name: "--json", value: nil, help: "JSON output"),
        ], allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        let r = OpBenchmark.suite(tokens: try args.int("--tokens", default: 4096), d: try args.int("--d-model", default: 384),
                                  heads: try args.int("--heads", default: 6), context: try args.int("--context", default: 256),
                                  vocab: try args.int("--vocab-size", default: 8192))
        if args.has("--json") { printJSON(encodable: r); return }
        print(formatTable(["op", "forward ms", "backward ms"], r.map { [$0.op, String(format: "%.2f", $0.forwardMs), String(format: "%.2f", $0.backwardMs)] }), terminator: "")
    }
}

/// `tllm bench step`: the same measurement as `bench train` under the name issue #2 uses.
enum BenchStepCommand: Command {
    static var spec: CommandSpec {
        var s = BenchTrainCommand.spec
        s.name = "bench step"
        s.summary = "a training step's tokens/s and its share of the sgemm peak (same as bench train)"
        return s
    }
    static func run(_ args: Arguments) throws { try BenchTrainCommand.run(args) }
}

/// `--data-parallel auto|on|off` → nil (automatic), true, false.
func parseDataParallel(_ s: String) throws -> Bool? {
    switch s {
    case "auto": return nil
    case "on": return true
    case "off": return false
    default: throw CLIError("--data-parallel must be auto, on or off")
    }
}
