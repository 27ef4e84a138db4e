import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer
import TLLMTraining

extension ModelConfig.Norm: ArgumentChoice {}
extension MLP.Activation: ArgumentChoice {}
extension ModelConfig.Positions: ArgumentChoice {}

/// `--objective clm|mlm`.
enum ObjectiveChoice: String, ArgumentChoice { case clm, mlm }

/// `--data-parallel auto|on|off` → nil (automatic), true, false.
enum DataParallelChoice: String, ArgumentChoice {
    case auto, on, off
    var setting: Bool? { self == .auto ? nil : self == .on }
}

public struct TrainCommand: ParsableCommand {
    public init() {}
    public static let info = CommandInfo(
        name: "train",
        summary: "train a language model (GPT by default) on the bundled corpus or your own",
        usage: "[--params 10M | --layers L --d-model D [--heads H]] [--corpus FILE|DIR] [--tokens N | --steps N] [--out DIR] [--resume DIR]",
        discussion: """
        Sizing rule for --params: head size 64, d_model a multiple of 64, and among the (d_model, layers)
        within ±10% of the budget the one with d_model/layers closest to 64. The run folder holds
        config.json, metrics.csv, samples.txt, summary.json and checkpoint/ (model.safetensors, config.json,
        tokenizer.json, trainer-state.safetensors, trainer.json). Ctrl-C saves a checkpoint and exits.
        """)

    @Option("--params", "N", help: "parameter budget: 500K, 1M, 3M, 10M, 30M, … (picks the architecture)", .positive) var params = Count(10_000_000)
    @Option("--layers", "L", help: "transformer blocks (overrides --params)", .positive) var layers: Int?
    @Option("--d-model", "D", help: "width, a multiple of the head size (overrides --params)", .positive) var dModel: Int?
    @Option("--heads", "H", help: "attention heads (default d_model/64)", .positive) var heads: Int?
    @Option("--kv-heads", "H", help: "key/value heads: fewer than --heads for grouped-query attention", .positive) var kvHeads: Int?
    @Option("--context", "T", help: "sequence length", .positive) var context = 256
    @Option("--norm", "N", help: "normalization") var norm = ModelConfig.Norm.layernorm
    @Option("--activation", "A", help: "MLP non-linearity") var activation = MLP.Activation.gelu
    @Option("--positions", "P", help: "position encoding") var positions = ModelConfig.Positions.learned
    @Flag("--attention-only", help: "blocks without MLPs (attention-only transformers)") var attentionOnly: Bool
    @Flag("--head-scores", help: "at every evaluation, record the best head's prefix matching and the ICL score on repeated random runs (metrics.csv)") var headScores: Bool
    @Option("--dropout", "P", help: "dropout probability", .fraction) var dropout: Float = 0
    @Option("--objective", "O", help: "clm (GPT, next token) or mlm (BERT-style encoder, masked tokens)") var objective = ObjectiveChoice.clm
    @Flag("--nsp", help: "with --objective mlm: add next-sentence prediction on [CLS]") var nsp: Bool
    @Option("--vocab", "V", help: "vocabulary (see tllm tokenizer --help)", defaultDescription: "default") var vocab: String?
    @Option("--corpus", "C", help: "shakespeare, kjv, all, synthetic:icl, a text file or a directory", defaultDescription: "shakespeare") var corpus: String?
    @Option("--val-fraction", "F", help: "share of documents held out for validation", .openFraction) var valFraction = 0.1
    @Option("--tokens", "N", help: "token budget", .positive, defaultDescription: "1.5e14 FLOPs worth: 2.5M for 10M") var tokens: Count?
    @Option("--steps", "N", help: "optimizer steps (instead of --tokens)", .positive) var steps: Int?
    @Option("--batch", "B", help: "sequences per micro-batch", .positive) var batch = 16
    @Option("--grad-accum", "K", help: "micro-batches per step", .positive) var gradAccum = 1
    @Option("--lr", "LR", help: "peak learning rate (warmup + cosine to 10%)", .positive) var lr: Float = 1e-3
    @Option("--warmup", "N", help: "warmup steps", .nonNegative) var warmup = 100
    @Option("--weight-decay", "W", help: "AdamW decay on matrices", .nonNegative) var weightDecay: Float = 0.1
    @Option("--clip", "C", help: "gradient clipping norm (0 = off)", .nonNegative) var clip: Float = 1
    @Option("--seed", "S", help: "random seed") var seed: UInt64 = 1337
    @Option("--eval-every", "N", help: "steps between evaluations", .positive) var evalEvery = 100
    @Option("--eval-tokens", "N", help: "validation tokens per evaluation", .positive) var evalTokens = 65_536
    @Option("--checkpoint-every", "N", help: "steps between checkpoints", .positive) var checkpointEvery = 250
    @Option("--log-every", "N", help: "steps between metrics rows", .positive) var logEvery = 10
    @Option("--samples", "N", help: "samples written at each evaluation", .nonNegative) var samples = 2
    @Option("--prompt", "TEXT", help: "prompt for the samples", defaultDescription: "\\n") var prompt = "\\n"
    @Option("--out", "DIR", help: "run folder", defaultDescription: "runs/gpt-SIZE-TIME") var out: String?
    @Option("--resume", "DIR", help: "continue the run in DIR from its checkpoint") var resume: String?
    @Option("--stop-at", "STEP", help: "save and stop after STEP (resume later with --resume)", .positive) var stopAt: Int?
    @Option("--data-parallel", "M", help: "split each batch across the cores (auto: d_model ≤ 256)") var dataParallel = DataParallelChoice.auto
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    public func run() throws {
        if nsp && objective != .mlm { throw CLIError("tllm train: --nsp needs --objective mlm") }
        if headScores && objective == .mlm { throw CLIError("tllm train: --head-scores measures induction heads of a causal model; it needs --objective clm") }
        if $steps.isSet && $tokens.isSet { throw CLIError("tllm train: give --steps or --tokens, not both") }
        if resume != nil && out != nil { throw CLIError("tllm train: --resume continues the run in its own folder; --out does not apply") }
        let progress = ProgressDisplay()
        let plan = try LanguageModelTraining.plan(request(), log: { progress.message($0) })
        if plan.finished {
            progress.message("\(plan.run.path) already finished its \(plan.options.steps) steps; nothing to do, nothing changed (to train longer: --resume \(plan.run.path) --steps N with N > \(plan.options.steps))")
            return
        }
        progress.message(Self.describe(plan))
        let summary = try LanguageModelTraining.execute(plan, progress: progress, stopAt: stopAt)
        report(summary, plan: plan, progress: progress)
        if summary.interrupted { throw ExitRequest(code: 130) }
    }

    /// The flags as a training request.
    public func request() -> TrainRequest {
        var r = TrainRequest()
        r.objective = objective == .mlm ? .masked(nsp: nsp) : .nextToken
        let explicit = layers != nil || dModel != nil
        r.parameters = explicit && !$params.isSet ? nil : params.value
        r.layers = layers; r.dModel = dModel; r.heads = heads; r.kvHeads = kvHeads; r.attentionOnly = attentionOnly
        r.context = context; r.norm = norm; r.activation = activation; r.positions = positions; r.dropout = dropout
        r.vocabulary = vocab                 // nil: the default, or tllm-2k for tiny sizes
        r.dataParallel = dataParallel.setting
        r.corpus = corpus
        r.tokens = tokens?.value
        r.steps = steps
        r.out = out.map { URL(fileURLWithPath: $0) }
        r.resume = resume.map { URL(fileURLWithPath: $0) }
        var o = TrainingOptions()
        o.batch = batch; o.gradientAccumulation = gradAccum; o.learningRate = lr; o.warmupSteps = warmup
        o.weightDecay = weightDecay; o.gradientClip = clip; o.seed = seed; o.evalEvery = evalEvery; o.evalTokens = evalTokens
        o.checkpointEvery = checkpointEvery; o.logEvery = logEvery; o.samples = samples
        o.samplePrompt = prompt.replacingOccurrences(of: "\\n", with: "\n")
        o.validationFraction = valFraction
        o.headScores = headScores
        r.options = o
        return r
    }

    static func describe(_ plan: LanguageModelTraining.Plan) -> String {
        let c = plan.config, o = plan.options
        let kind = c.architecture == .bert ? "BERT-style encoder (\(o.objective))" : "GPT"
        let extras = [c.norm == .rmsnorm ? "RMSNorm" : nil, c.activation == .swiglu ? "SwiGLU" : nil, c.positions == .rope ? "RoPE" : nil,
                      c.kvHeads != c.heads ? "\(c.kvHeads) KV heads" : nil, c.attentionOnly ? "attention-only" : nil].compactMap { $0 }
        let held = plan.data.validationDocuments.prefix(4).joined(separator: ", ") + (plan.data.validationDocuments.count > 4 ? ", …" : "")
        let tokens = o.steps * o.tokensPerStep
        return """
        model: \(kind), \(c.layers) layers, d_model \(c.dModel), \(c.heads) heads, context \(c.context), vocab \(c.vocabSize)\(extras.isEmpty ? "" : ", " + extras.joined(separator: ", "))
        parameters: \(formatCount(c.parameters)) total (\(c.parameters)), \(formatCount(c.nonEmbeddingParameters)) non-embedding (\(c.nonEmbeddingParameters))
        data: \(plan.corpusName): \(plan.data.train.count) training tokens, \(plan.data.validation.count) validation tokens (held out: \(held))
        budget\(o.dataParallel ? " (data-parallel across cores)" : ""): \(o.steps) steps × \(o.tokensPerStep) tokens = \(formatCount(tokens)) tokens (\(String(format: "%.2g", c.trainingFLOPsPerToken() * Double(tokens))) FLOPs), lr \(o.learningRate), \(Threading.count) threads, BLAS core \(BLASRuntime.coreName)
        run: \(plan.run.path)\(plan.resumed ? " (resuming)" : "")
        """
    }

    func report(_ summary: Trainer.Summary, plan: LanguageModelTraining.Plan, progress: ProgressDisplay) {
        if output.json { printJSON(encodable: summary); return }
        if summary.interrupted {
            progress.message("stopped at step \(summary.steps) of \(plan.options.steps); continue with: tllm train --resume \(plan.run.path)")
            return
        }
        func f(_ v: Double?, _ fmt: String) -> String { v.map { String(format: fmt, $0) } ?? "n/a" }
        progress.message("done: \(summary.steps) steps, \(formatCount(summary.tokens)) tokens in \(formatDuration(summary.seconds)) (\(Int(summary.tokensPerSecond)) tok/s); "
                         + "train loss \(f(summary.trainLoss, "%.4f")), val loss \(f(summary.validationLoss, "%.4f")) "
                         + "(bpb \(f(summary.validationBitsPerByte, "%.3f")), ppl \(f(summary.validationPerplexity, "%.1f")))")
        progress.message(plan.config.architecture == .gpt
                         ? "model: \(Checkpoint.directory(plan.run).path)  (try: tllm generate --model \(plan.run.path) --prompt \"ROMEO:\")"
                         : "model: \(Checkpoint.directory(plan.run).path)  (fine-tune with: tllm finetune --model \(plan.run.path) --task evals/shakespeare-genre)")
    }
}
