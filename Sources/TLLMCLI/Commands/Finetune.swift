import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer
import TLLMTraining

extension FineTuneMode: ArgumentValue {
    public static func parse(_ text: String) -> FineTuneMode? { FineTuneMode.named(text) }
    public static var expected: String { "full, freeze:K or probe" }
    public var helpText: String { description }
}

extension Pooling: ArgumentChoice {}

/// `--objective clm`: continued language-model training instead of classification.
enum ContinuedObjective: String, ArgumentChoice { case clm }

struct FinetuneCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "finetune",
        summary: "fine-tune a pretrained model: classification (full, freeze:K, probe) or continued LM training",
        usage: "--model DIR --task evals/NAME --mode full|freeze:K|probe [--from-scratch] [--layer L]  |  --objective clm --model DIR --corpus C --tokens N")

    @Option("--model", "DIR", help: "a pretrained run folder or model directory") var model: String?
    @Option("--task", "DIR", help: "a classification task (train/validation/test.jsonl)") var task: String?
    @Option("--mode", "M", help: "full, freeze:K (embeddings + lowest K blocks frozen) or probe") var mode = FineTuneMode.full
    @Flag("--from-scratch", help: "same architecture, random initialisation (the baseline)") var fromScratch: Bool
    @Option("--layer", "L", help: "probe features after block L (per-layer probes)", .nonNegative) var layer: Int?
    @Option("--pool", "P", help: "last (GPT: last token; BERT: [CLS] pooler) or mean (of the token states)") var pool = Pooling.last
    @Option("--epochs", "N", help: "maximum epochs (early stopping on validation)", .positive) var epochs = 8
    @Option("--eval-every", "N", help: "validate every N steps (0 = once per epoch)", .nonNegative) var evalEvery = 0
    @Option("--min-epochs", "N", help: "no early stopping before this many epochs (= --epochs: train all, test the best checkpoint)", .nonNegative) var minEpochs = 2
    @Option("--lr", "LR", help: "learning rate", .positive, defaultDescription: "5e-4; probe 1e-2; --objective clm 3e-4") var lr: Float?
    @Option("--batch", "B", help: "examples per step", .positive) var batch = 16
    @Option("--seed", "S", help: "seed") var seed: UInt64 = 1
    @Option("--objective", "O", help: "clm: continue language-model training on --corpus instead") var objective: ContinuedObjective?
    @Option("--corpus", "C", help: "with --objective clm: the new corpus") var corpus: String?
    @Option("--tokens", "N", help: "with --objective clm: token budget", .positive) var tokens: Count?
    @Option("--out", "DIR", help: "with --objective clm: run folder") var out: String?
    @Flag("--json", help: "print the result as one JSON object") var json: Bool
    let runtime = RuntimeOptions()

    func run() throws {
        guard let model else { throw CLIError("tllm finetune: --model DIR is required") }
        if objective == .clm { return try continueTraining(model) }
        guard let task else { throw CLIError("tllm finetune: --task evals/NAME is required") }
        let t = try ClassificationTask.load(URL(fileURLWithPath: task))
        let c = try FineTuneSetup.classifier(model: URL(fileURLWithPath: model), classes: t.labels.count, fromScratch: fromScratch, seed: seed)
        if let layer {
            guard layer <= c.config.layers else { throw CLIError("tllm finetune: --layer must be in 0…\(c.config.layers)") }
            c.layer = layer
        }
        if case .freeze(let k) = mode, k > c.config.layers { throw CLIError("tllm finetune: freeze:\(k) exceeds the model's \(c.config.layers) blocks") }
        c.pooling = pool
        var o = FineTuneOptions()
        o.mode = mode
        o.learningRate = lr ?? (mode == .probe ? 1e-2 : 5e-4)
        o.batch = batch; o.epochs = epochs; o.minEpochs = minEpochs; o.evalEvery = evalEvery; o.seed = seed
        let progress = ProgressDisplay()
        let r = try FineTuner.run(c, task: t, options: o) { progress.update($0) }
        progress.finish()
        if json { printJSON(encodable: r); return }
        print(String(format: "%@ [%@%@]: test accuracy %.4f, macro-F1 %.4f (majority baseline %.4f); best validation %.4f",
                     t.name, mode.description, fromScratch ? ", from scratch" : "", r.testAccuracy, r.testMacroF1,
                     r.majorityBaseline, r.bestValidationAccuracy))
        print(String(format: "trainable parameters %@ (%d); %d steps, %.1f ms/step, %.1f s", formatCount(r.trainableParameters),
                     r.trainableParameters, r.steps, r.stepSeconds * 1000, r.seconds))
    }

    /// `--objective clm`: the model's weights as the start of a new language-model run.
    func continueTraining(_ model: String) throws {
        var r = TrainRequest()
        r.initialWeights = URL(fileURLWithPath: model)
        r.corpus = corpus
        r.tokens = tokens?.value
        r.out = out.map { URL(fileURLWithPath: $0) }
        var o = TrainingOptions()
        o.learningRate = lr ?? 3e-4
        o.seed = seed
        o.samples = 0
        r.options = o
        let progress = ProgressDisplay()
        let plan = try LanguageModelTraining.plan(r, log: { progress.message($0) })
        progress.message("continuing \(model) on \(plan.corpusName): \(formatCount(plan.options.steps * plan.options.tokensPerStep)) tokens → \(plan.run.path)")
        let s = try LanguageModelTraining.execute(plan, progress: progress)
        if json { printJSON(encodable: s) } else {
            progress.message(String(format: "done: val loss %.4f (bpb %.3f) on %@", s.validationLoss ?? .nan, s.validationBitsPerByte ?? .nan, plan.corpusName))
        }
    }
}
