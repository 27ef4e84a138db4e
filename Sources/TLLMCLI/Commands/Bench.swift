import Foundation
import TLLMCore
import TLLMModels
import TLLMTraining

/// The architecture flags the bench commands share.
struct BenchArchitecture: OptionGroup {
    @Option("--vocab-size", "V", help: "vocabulary size", .positive) var vocabSize = 8192
    @Option("--layers", "L", help: "transformer blocks", .positive) var layers = 6
    @Option("--d-model", "D", help: "model width", .positive) var dModel = 384
    @Option("--heads", "H", help: "attention heads", .positive) var heads = 6
    @Option("--context", "T", help: "sequence length", .positive) var context = 256
    @Option("--norm", "N", help: "normalization") var norm = ModelConfig.Norm.layernorm
    @Option("--activation", "A", help: "MLP non-linearity") var activation = MLP.Activation.gelu
    @Option("--positions", "P", help: "position encoding") var positions = ModelConfig.Positions.learned

    func config() throws -> ModelConfig {
        var c = ModelConfig(vocabSize: vocabSize, context: context, layers: layers, dModel: dModel, heads: heads,
                            norm: norm, activation: activation, positions: positions)
        c.mlpHidden = activation == .gelu ? 4 * dModel : ModelConfig.swigluHidden(dModel)
        do { try c.validate() } catch let e as TLLMError { throw CLIError("tllm bench: \(e.message)") }
        return c
    }
}

struct BenchTrainCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "bench train",
        summary: "time GPT training steps on random tokens (tokens/s, GFLOP/s, MFU, peak RSS)",
        usage: "[--vocab-size V --layers L --d-model D --heads H --context T] [--batch B] [--steps N] [--json]")

    let architecture = BenchArchitecture()
    @Option("--batch", "B", help: "sequences per step", .positive) var batch = 16
    @Option("--steps", "N", help: "timed steps (after 2 warm-up steps)", .positive) var steps = 10
    @Option("--peak-gflops", "G", help: "sgemm peak for MFU", .positive, defaultDescription: "measured now") var peakGflops: Double?
    @Option("--data-parallel", "M", help: "split the batch across cores") var dataParallel = DataParallelChoice.auto
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        let c = try architecture.config()
        let r = try TrainBenchmark.run(config: c, batch: batch, steps: steps, peakGEMM: peakGflops, dataParallel: dataParallel.setting)
        if output.json { printJSON(encodable: r); return }
        print("model: \(formatCount(r.parameters)) parameters (\(formatCount(r.nonEmbeddingParameters)) non-embedding), \(c.layers) layers, d \(c.dModel), \(c.heads) heads, context \(c.context), vocab \(c.vocabSize)")
        print(String(format: "step: %.3f s   tokens/s: %.0f   model GFLOP/s: %.1f   MFU: %.1f%% of %.1f GFLOP/s sgemm peak   peak RSS: %.2f GiB%@",
                     r.stepSeconds, r.tokensPerSecond, r.gflops, 100 * r.mfu, r.peakGEMMGflops, Double(r.peakRSSBytes) / Double(1 << 30),
                     r.dataParallel ? "   (data-parallel)" : ""))
    }
}

/// `tllm bench step`: the same measurement as `bench train` under the name issue #2 uses.
struct BenchStepCommand: ParsableCommand {
    static var info: CommandInfo {
        var s = BenchTrainCommand.info
        s.name = "bench step"
        s.summary = "a training step's tokens/s and its share of the sgemm peak (same as bench train)"
        return s
    }
    let train = BenchTrainCommand()
    func run() throws { try train.run() }
}

extension BenchTrainCommand: OptionGroup {}

struct BenchNumericsCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "bench numerics",
        summary: "write initial weights, batches, first-batch gradients and 50 training losses for bench/pytorch_check.py",
        usage: "[--vocab-size V --layers L --d-model D --heads H --context T] [--batch B] [--steps 50] -o DIR")

    let architecture = BenchArchitecture()
    @Option("--batch", "B", help: "sequences per step", .positive) var batch = 8
    @Option("--steps", "N", help: "AdamW steps to record", .positive) var steps = 50
    @Option("--lr", "LR", help: "constant learning rate", .positive) var lr: Float = 1e-3
    @Option("-o", "DIR", help: "output folder") var out: String?
    let runtime = RuntimeOptions()

    func run() throws {
        guard let out else { throw CLIError("tllm bench numerics: -o DIR is required") }
        try NumericsDump.run(config: try architecture.config(), batch: batch, steps: steps, learningRate: lr, to: URL(fileURLWithPath: out))
        Log.info("wrote \(out): model.safetensors, config.json, batches.bin, first-batch.safetensors, run.json")
    }
}

struct BenchOpsCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "bench ops",
        summary: "time each op of a GPT layer, forward and backward (ms)",
        usage: "[--tokens 4096] [--d-model 384] [--heads 6] [--context 256] [--vocab-size 8192] [--json]")

    @Option("--tokens", "N", help: "rows (batch × context)", .positive) var tokens = 4096
    @Option("--d-model", "D", help: "width", .positive) var dModel = 384
    @Option("--heads", "H", help: "heads", .positive) var heads = 6
    @Option("--context", "T", help: "sequence length", .positive) var context = 256
    @Option("--vocab-size", "V", help: "vocabulary", .positive) var vocabSize = 8192
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        guard dModel % heads == 0, tokens % context == 0 else { throw CLIError("tllm bench ops: --d-model must divide by --heads and --tokens by --context") }
        let r = OpBenchmark.suite(tokens: tokens, d: dModel, heads: heads, context: context, vocab: vocabSize)
        if output.json { printJSON(encodable: r); return }
        print(formatTable(["op", "forward ms", "backward ms"], r.map { [$0.op, String(format: "%.2f", $0.forwardMs), String(format: "%.2f", $0.backwardMs)] }), terminator: "")
    }
}

struct BenchGEMMCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "bench gemm",
        summary: "measure cblas_sgemm GFLOP/s for square sizes and transformer shapes",
        usage: "[--tokens N] [--d-model D] [--vocab-size V] [--threads N] [--json]")

    @Option("--tokens", "N", help: "rows of the transformer products (batch × context)", .positive) var tokens = 4096
    @Option("--d-model", "D", help: "model width", .positive) var dModel = 384
    @Option("--vocab-size", "V", help: "vocabulary for the LM-head product", .positive) var vocabSize = 8192
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        let choice = BLASRuntime.prepare()
        let results = GEMMBenchmark.standardSuite(tokens: tokens, dModel: dModel, vocab: vocabSize)
        let peak = GEMMBenchmark.peak(results)
        if output.json {
            let rows: [[String: Any]] = results.map {
                ["label": $0.label, "m": $0.m, "n": $0.n, "k": $0.k, "trans_a": $0.transA, "trans_b": $0.transB, "gflops": $0.gflops]
            }
            printJSON(["core": choice.coreName, "detected_core": choice.detectedCoreName, "reason": choice.reason,
                       "threads": Threading.count, "cpu": CPUFeatures.modelName, "peak_gflops": peak, "results": rows])
            return
        }
        print("OpenBLAS core: \(choice.coreName) (\(choice.reason))")
        print("CPU: \(CPUFeatures.modelName); threads: \(Threading.count)\n")
        let table = results.map { r in
            [r.label, "\(r.m)×\(r.n)×\(r.k)", (r.transA ? "T" : "N") + (r.transB ? "T" : "N"), String(format: "%.1f", r.gflops)]
        }
        print(formatTable(["product", "m×n×k", "op", "GFLOP/s"], table), terminator: "")
        print(String(format: "\npeak: %.1f GFLOP/s", peak))
    }
}
