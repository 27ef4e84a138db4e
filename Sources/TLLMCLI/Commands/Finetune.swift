import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer
import TLLMTraining

enum FinetuneCommand: Command {
    static let spec = CommandSpec(
        name: "finetune",
        summary: "fine-tune a pretrained model: classification (full, freeze:K, probe) or continued LM training",
        usage: "--model DIR --task evals/NAME --mode full|freeze:K|probe [--from-scratch] [--layer L]  |  --objective clm --model DIR --corpus C --tokens N",
        options: [
            OptionSpec(name: "--model", value: "DIR", help: "a pretrained run folder or model directory"),
            OptionSpec(name: "--task", value: "DIR", help: "a classification task (train/validation/test.jsonl)"),
            OptionSpec(name: "--mode", value: "M", help: "full, freeze:K (embeddings + lowest K blocks frozen) or probe", defaultValue: "full"),
            OptionSpec(name: "--from-scratch", value: nil, help: "same architecture, random initialisation (the baseline)"),
            OptionSpec(name: "--layer", value: "L", help: "probe features after block L (per-layer probes)"),
            OptionSpec(name: "--pool", value: "P", help: "last (GPT: last token; BERT: [CLS] pooler) or mean (of the token states)", defaultValue: "last"),
            OptionSpec(name: "--epochs", value: "N", help: "maximum epochs (early stopping on validation)", defaultValue: "8"),
            OptionSpec(name: "--eval-every", value: "N", help: "validate every N steps (0 = once per epoch)", defaultValue: "0"),
            OptionSpec(name: "--min-epochs", value: "N", help: "no early stopping before this many epochs (= --epochs: train all, test the best checkpoint)", defaultValue: "2"),
            OptionSpec(name: "--lr", value: "LR", help: "learning rate (default 5e-4; probe 1e-2)"),
            OptionSpec(name: "--batch", value: "B", help: "examples per step", defaultValue: "16"),
            OptionSpec(name: "--seed", value: "S", help: "seed", defaultValue: "1"),
            OptionSpec(name: "--objective", value: "O", help: "clm: continue language-model training on --corpus instead"),
            OptionSpec(name: "--corpus", value: "C", help: "with --objective clm: the new corpus"),
            OptionSpec(name: "--tokens", value: "N", help: "with --objective clm: token budget"),
            OptionSpec(name: "--out", value: "DIR", help: "with --objective clm: run folder"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
            OptionSpec(name: "--json", value: nil, help: "print the result as one JSON object"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let dir = args.string("--model") else { throw CLIError("tllm finetune: --model DIR is required") }
        if let obj = args.string("--objective") {
            guard obj == "clm" else { throw CLIError("tllm finetune: --objective must be clm") }
            var r = TrainRequest()
            r.initialWeights = URL(fileURLWithPath: dir)
            r.corpus = args.string("--corpus")
            r.tokens = try args.count("--tokens")
            r.out = args.string("--out").map { URL(fileURLWithPath: $0) }
            var o = TrainingOptions()
            o.learningRate = Float(try args.double("--lr", default: 3e-4))
            o.seed = try args.seed(default: 1)
            o.samples = 0
            r.options = o
            let progress = ProgressDisplay()
            let plan = try LanguageModelTraining.plan(r, log: { progress.message($0) })
            progress.message("continuing \(dir) on \(plan.corpusName): \(formatCount(plan.options.steps * plan.options.tokensPerStep)) tokens → \(plan.run.path)")
            let s = try LanguageModelTraining.execute(plan, progress: progress)
            if args.has("--json") { printJSON(encodable: s) } else {
                progress.message(String(format: "done: val loss %.4f (bpb %.3f) on %@", s.validationLoss ?? .nan, s.validationBitsPerByte ?? .nan, plan.corpusName))
            }
            return
        }
        guard let tdir = args.string("--task") else { throw CLIError("tllm finetune: --task evals/NAME is required") }
        guard let mode = FineTuneMode.parse(args.string("--mode", default: "full")) else {
            throw CLIError("tllm finetune: --mode must be full, freeze:K or probe")
        }
        let task = try ClassificationTask.load(URL(fileURLWithPath: tdir))
        let seed = try args.seed(default: 1)
        let c = try FineTuneSetup.classifier(model: URL(fileURLWithPath: dir), classes: task.labels.count, fromScratch: args.has("--from-scratch"), seed: seed)
        if let l = try args.int("--layer") {
            guard l >= 0 && l <= c.config.layers else { throw CLIError("tllm finetune: --layer must be in 0…\(c.config.layers)") }
            c.layer = l
        }
        if case .freeze(let k) = mode, k > c.config.layers { throw CLIError("tllm finetune: freeze:\(k) exceeds the model's \(c.config.layers) blocks") }
        guard let pool = Pooling(rawValue: args.string("--pool", default: "last")) else { throw CLIError("tllm finetune: --pool must be last or mean") }
        c.pooling = pool
        var o = FineTuneOptions()
        o.mode = mode
        o.learningRate = Float(try args.double("--lr") ?? (mode == .probe ? 1e-2 : 5e-4))
        o.batch = try args.int("--batch", default: 16)
        o.epochs = try args.int("--epochs", default: 8)
        o.minEpochs = try args.int("--min-epochs", default: 2)
        o.evalEvery = try args.int("--eval-every", default: 0)
        guard o.epochs >= 1, o.minEpochs >= 0, o.batch >= 1, o.evalEvery >= 0 else {
            throw CLIError("tllm finetune: --epochs and --batch must be ≥ 1, --min-epochs and --eval-every ≥ 0")
        }
        o.seed = seed
        let progress = ProgressDisplay()
        let r = try FineTuner.run(c, task: task, options: o) { progress.update($0) }
        progress.finish()
        if args.has("--json") { printJSON(encodable: r); return }
        print(String(format: "%@ [%@%@]: test accuracy %.4f, macro-F1 %.4f (majority baseline %.4f); best validation %.4f",
                     task.name, mode.description, args.has("--from-scratch") ? ", from scratch" : "", r.testAccuracy, r.testMacroF1,
                     r.majorityBaseline, r.bestValidationAccuracy))
        print(String(format: "trainable parameters %@ (%d); %d steps, %.1f ms/step, %.1f s", formatCount(r.trainableParameters),
                     r.trainableParameters, r.steps, r.stepSeconds * 1000, r.seconds))
    }
}
