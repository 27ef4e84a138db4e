import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer
import TLLMTraining

enum TrainCommand: Command {
    static let spec = CommandSpec(
        name: "train",
        summary: "train a language model (GPT by default) on the bundled corpus or your own",
        usage: "[--params 10M | --layers L --d-model D [--heads H]] [--corpus FILE|DIR] [--tokens N | --steps N] [--out DIR] [--resume DIR]",
        options: [
            OptionSpec(name: "--params", value: "N", help: "parameter budget: 500K, 1M, 3M, 10M, 30M, … (picks the architecture)", defaultValue: "10M"),
            OptionSpec(name: "--layers", value: "L", help: "transformer blocks (overrides --params)"),
            OptionSpec(name: "--d-model", value: "D", help: "width, a multiple of the head size (overrides --params)"),
            OptionSpec(name: "--heads", value: "H", help: "attention heads (default d_model/64)"),
            OptionSpec(name: "--context", value: "T", help: "sequence length", defaultValue: "256"),
            OptionSpec(name: "--norm", value: "N", help: "layernorm or rmsnorm", defaultValue: "layernorm"),
            OptionSpec(name: "--activation", value: "A", help: "gelu or swiglu", defaultValue: "gelu"),
            OptionSpec(name: "--positions", value: "P", help: "learned or rope", defaultValue: "learned"),
            OptionSpec(name: "--dropout", value: "P", help: "dropout probability", defaultValue: "0"),
            OptionSpec(name: "--objective", value: "O", help: "clm (GPT, next token) or mlm (BERT-style encoder, masked tokens)", defaultValue: "clm"),
            OptionSpec(name: "--nsp", value: nil, help: "with --objective mlm: add next-sentence prediction on [CLS]"),
            OptionSpec(name: "--vocab", value: "V", help: "vocabulary (see tllm tokenizer --help)", defaultValue: "default"),
            OptionSpec(name: "--corpus", value: "C", help: "shakespeare, kjv, a text file or a directory", defaultValue: "shakespeare"),
            OptionSpec(name: "--val-fraction", value: "F", help: "share of documents held out for validation", defaultValue: "0.1"),
            OptionSpec(name: "--tokens", value: "N", help: "token budget (default: 1.5e14 FLOPs worth: 2.5M for 10M)"),
            OptionSpec(name: "--steps", value: "N", help: "optimizer steps (instead of --tokens)"),
            OptionSpec(name: "--batch", value: "B", help: "sequences per micro-batch", defaultValue: "16"),
            OptionSpec(name: "--grad-accum", value: "K", help: "micro-batches per step", defaultValue: "1"),
            OptionSpec(name: "--lr", value: "LR", help: "peak learning rate (warmup + cosine to 10%)", defaultValue: "1e-3"),
            OptionSpec(name: "--warmup", value: "N", help: "warmup steps", defaultValue: "100"),
            OptionSpec(name: "--weight-decay", value: "W", help: "AdamW decay on matrices", defaultValue: "0.1"),
            OptionSpec(name: "--clip", value: "C", help: "gradient clipping norm (0 = off)", defaultValue: "1"),
            OptionSpec(name: "--seed", value: "S", help: "random seed", defaultValue: "1337"),
            OptionSpec(name: "--eval-every", value: "N", help: "steps between evaluations", defaultValue: "100"),
            OptionSpec(name: "--eval-tokens", value: "N", help: "validation tokens per evaluation", defaultValue: "65536"),
            OptionSpec(name: "--checkpoint-every", value: "N", help: "steps between checkpoints", defaultValue: "250"),
            OptionSpec(name: "--log-every", value: "N", help: "steps between metrics rows", defaultValue: "10"),
            OptionSpec(name: "--samples", value: "N", help: "samples written at each evaluation", defaultValue: "2"),
            OptionSpec(name: "--prompt", value: "TEXT", help: "prompt for the samples", defaultValue: "\\n"),
            OptionSpec(name: "--out", value: "DIR", help: "run folder (default runs/gpt-SIZE-TIME)"),
            OptionSpec(name: "--resume", value: "DIR", help: "continue the run in DIR from its checkpoint"),
            OptionSpec(name: "--stop-at", value: "STEP", help: "save and stop after STEP (resume later with --resume)"),
            OptionSpec(name: "--threads", value: "N", help: "threads (default all cores, or TLLM_THREADS)"),
            OptionSpec(name: "--data-parallel", value: "M", help: "auto, on or off: split each batch across the cores (auto: d_model ≤ 256)", defaultValue: "auto"),
            OptionSpec(name: "--json", value: nil, help: "print the final summary as one JSON object on stdout"),
        ],
        discussion: """
        Sizing rule for --params: head size 64, d_model a multiple of 64, and among the (d_model, layers)
        within ±10% of the budget the one with d_model/layers closest to 64. The run folder holds
        config.json, metrics.csv, samples.txt, summary.json and checkpoint/ (model.safetensors, config.json,
        tokenizer.json, trainer-state.safetensors, trainer.json). Ctrl-C saves a checkpoint and exits.
        """,
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        let objective = args.string("--objective", default: "clm")
        guard objective == "clm" || objective == "mlm" else { throw CLIError("tllm train: --objective must be clm or mlm") }
        if args.has("--nsp") && objective != "mlm" { throw CLIError("tllm train: --nsp needs --objective mlm") }
        var r = TrainRequest()
        r.objective = Objective(name: objective, nsp: args.has("--nsp"))!
        let explicit = args.isSet("--layers") || args.isSet("--d-model")
        r.parameters = explicit && !args.isSet("--params") ? nil : try args.count("--params") ?? 10_000_000
        r.layers = try args.int("--layers")
        r.dModel = try args.int("--d-model")
        r.heads = try args.int("--heads")
        r.context = try args.int("--context", default: 256)
        guard let norm = ModelConfig.Norm(rawValue: args.string("--norm", default: "layernorm")) else { throw CLIError("tllm train: --norm must be layernorm or rmsnorm") }
        guard let act = ModelConfig.Activation(rawValue: args.string("--activation", default: "gelu")) else { throw CLIError("tllm train: --activation must be gelu or swiglu") }
        guard let pos = ModelConfig.Positions(rawValue: args.string("--positions", default: "learned")) else { throw CLIError("tllm train: --positions must be learned or rope") }
        r.norm = norm; r.activation = act; r.positions = pos
        r.dropout = Float(try args.double("--dropout", default: 0))
        r.vocabulary = args.isSet("--vocab") ? args.string("--vocab") : nil  // nil: the default, or tllm-2k for tiny sizes
        r.dataParallel = try parseDataParallel(args.string("--data-parallel", default: "auto"))
        r.corpus = args.string("--corpus")
        r.tokens = try args.count("--tokens")
        r.steps = try args.int("--steps")
        r.out = args.string("--out").map { URL(fileURLWithPath: $0) }
        r.resume = args.string("--resume").map { URL(fileURLWithPath: $0) }
        var o = TrainingOptions()
        o.batch = try args.int("--batch", default: 16)
        o.gradientAccumulation = try args.int("--grad-accum", default: 1)
        o.learningRate = Float(try args.double("--lr", default: 1e-3))
        o.warmupSteps = try args.int("--warmup", default: 100)
        o.weightDecay = Float(try args.double("--weight-decay", default: 0.1))
        o.gradientClip = Float(try args.double("--clip", default: 1))
        o.seed = try args.seed(default: 1337)
        o.evalEvery = try args.int("--eval-every", default: 100)
        o.evalTokens = try args.int("--eval-tokens", default: 65_536)
        o.checkpointEvery = try args.int("--checkpoint-every", default: 250)
        o.logEvery = try args.int("--log-every", default: 10)
        o.samples = try args.int("--samples", default: 2)
        o.samplePrompt = (args.string("--prompt") ?? "\n").replacingOccurrences(of: "\\n", with: "\n")
        o.validationFraction = try args.double("--val-fraction", default: 0.1)
        r.options = o
        do { try o.validate() } catch let e as TLLMError { throw CLIError("tllm train: \(e.message)") }

        let progress = ProgressDisplay()
        let plan = try LanguageModelTraining.plan(r, log: { progress.message($0) })
        let c = plan.config
        progress.message("""
        model: \(c.architecture == .bert ? "BERT-style encoder (masked LM\(plan.options.objective.usesNSP ? " + NSP" : ""))" : "GPT"), \(c.layers) layers, d_model \(c.dModel), \(c.heads) heads, context \(c.context), vocab \(c.vocabSize)\
        \(c.norm == .rmsnorm ? ", RMSNorm" : "")\(c.activation == .swiglu ? ", SwiGLU" : "")\(c.positions == .rope ? ", RoPE" : "")
        parameters: \(formatCount(c.parameters)) total (\(c.parameters)), \(formatCount(c.nonEmbeddingParameters)) non-embedding (\(c.nonEmbeddingParameters))
        data: \(plan.corpusName): \(plan.data.train.count) training tokens, \(plan.data.validation.count) validation tokens (held out: \(plan.data.validationDocuments.prefix(4).joined(separator: ", "))\(plan.data.validationDocuments.count > 4 ? ", …" : ""))
        budget\(plan.options.dataParallel ? " (data-parallel across cores)" : ""): \(plan.options.steps) steps × \(plan.options.tokensPerStep) tokens = \(formatCount(plan.options.steps * plan.options.tokensPerStep)) tokens (\(String(format: "%.2g", c.trainingFLOPsPerToken() * Double(plan.options.steps * plan.options.tokensPerStep))) FLOPs), lr \(plan.options.learningRate), \(Threading.count) threads, BLAS core \(BLASRuntime.coreName)
        run: \(plan.run.path)\(plan.resumed ? " (resuming)" : "")
        """)
        let summary = try LanguageModelTraining.execute(plan, progress: progress, stopAt: try args.int("--stop-at"))
        if args.has("--json") { printJSON(encodable: summary) } else if summary.interrupted {
            progress.message("stopped at step \(summary.steps) of \(plan.options.steps); continue with: tllm train --resume \(plan.run.path)")
        } else {
            progress.message(String(format: "done: %d steps, %@ tokens in %@ (%.0f tok/s); train loss %.4f, val loss %.4f (bpb %.3f, ppl %.1f)",
                                    summary.steps, formatCount(summary.tokens), formatDuration(summary.seconds), summary.tokensPerSecond,
                                    summary.trainLoss ?? .nan, summary.validationLoss ?? .nan, summary.validationBitsPerByte ?? .nan,
                                    summary.validationPerplexity ?? .nan))
            progress.message(c.architecture == .gpt ? "model: \(Checkpoint.directory(plan.run).path)  (try: tllm generate --model \(plan.run.path) --prompt \"ROMEO:\")"
                                                    : "model: \(Checkpoint.directory(plan.run).path)  (fine-tune with: tllm finetune --model \(plan.run.path) --task evals/shakespeare-genre)")
        }
        if summary.interrupted { throw ExitRequest(code: 130) }
    }
}
