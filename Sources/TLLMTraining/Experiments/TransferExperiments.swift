import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// The transfer-learning comparisons (`tllm experiment transfer` / `tllm experiment nsp`):
/// pretrain small models, fine-tune them in several ways with several seeds, and write Markdown +
/// CSV tables of mean ± std. Every sub-run's result is stored under `work/` and reused when the
/// experiment is re-run, so an interrupted experiment continues where it stopped.
public final class TransferExperiments {
    public struct Settings: Codable {
        public var vocabulary = "vocab/tllm-2k.json"
        public var layers = 4
        public var dModel = 128
        public var heads = 2
        public var context = 128
        public var pretrainTokens = 3_000_000
        public var seeds = [1, 2, 3]
        public var tasks = ["shakespeare-genre", "domain", "same-scene"]
        public var freezeLevels = [1, 3]
        public var finetuneEpochs = 4
        public var adaptationTokens = [100_000, 300_000, 1_000_000]
        public init() {}
    }

    public let settings: Settings
    public let work: URL
    public let evals: URL
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    public init(settings: Settings, work: URL, evals: URL) {
        self.settings = settings; self.work = work; self.evals = evals
    }

    // MARK: - Cached sub-runs

    func cached<T: Codable>(_ name: String, _ make: () throws -> T) throws -> T {
        let url = work.appendingPathComponent("results").appendingPathComponent(name + ".json")
        if let d = FileManager.default.contents(atPath: url.path), let v = try? JSONDecoder().decode(T.self, from: d) { return v }
        let v = try make()
        try AtomicFile.write(try JSONEncoder().encode(v), to: url)
        return v
    }

    /// Pretrains (or reuses) a model; returns its run folder.
    func pretrain(_ name: String, objective: Objective, corpus: String, seed: Int, tokens: Int) throws -> URL {
        let run = work.appendingPathComponent("pretrain").appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: run.appendingPathComponent("summary.json").path),
           let s = try? JSONDecoder().decode(Trainer.Summary.self, from: Data(contentsOf: run.appendingPathComponent("summary.json"))), !s.interrupted {
            return run
        }
        var r = TrainRequest()
        r.objective = objective
        r.layers = settings.layers; r.dModel = settings.dModel; r.heads = settings.heads; r.context = settings.context
        r.vocabulary = settings.vocabulary
        r.corpus = corpus
        r.tokens = tokens
        var o = TrainingOptions()
        o.seed = UInt64(seed); o.samples = 0; o.learningRate = 1e-3
        let steps = max(1, tokens / (o.batch * settings.context))
        o.evalEvery = max(10, steps / 5); o.checkpointEvery = max(50, steps / 2); o.logEvery = max(1, steps / 20)
        o.evalTokens = 32_768
        r.options = o
        let resuming = FileManager.default.fileExists(atPath: Checkpoint.directory(run).path)
        if resuming { r.resume = run } else { try? FileManager.default.removeItem(at: run); r.out = run }
        log("pretraining \(name) (\(objective.name)\(objective.usesNSP ? "+nsp" : ""), seed \(seed), \(formatCount(tokens)) tokens on \(corpus))\(resuming ? ", resuming" : "")")
        let plan = try LanguageModelTraining.plan(r, log: { _ in })
        let s = try LanguageModelTraining.execute(plan, progress: ProgressDisplay())
        if s.interrupted { throw ExperimentInterrupted() }
        return run
    }

    func finetune(_ model: URL, task: String, mode: FineTuneMode, scratch: Bool, layer: Int? = nil, seed: Int) throws -> FineTuneResult {
        let t = try ClassificationTask.load(evals.appendingPathComponent(task))
        let c = try FineTuneSetup.classifier(model: model, classes: t.labels.count, fromScratch: scratch, seed: UInt64(seed))
        c.layer = layer
        // Probes read the mean of the token states (at block 0 the [CLS] state is the same for every input).
        if mode == .probe { c.pooling = .mean }
        var o = FineTuneOptions()
        o.mode = mode
        o.seed = UInt64(seed)
        o.epochs = settings.finetuneEpochs
        o.learningRate = mode == .probe ? 1e-2 : (scratch ? 1e-3 : 5e-4)
        o.evalEvery = 25
        // Every run trains its full budget; the checkpoint with the best validation accuracy is tested.
        o.minEpochs = o.epochs
        return try FineTuner.run(c, task: t, options: o)
    }

    // MARK: - Statistics

    static func meanStd(_ xs: [Double]) -> (Double, Double) {
        let n = Double(xs.count)
        guard n > 0 else { return (.nan, .nan) }
        let m = xs.reduce(0, +) / n
        let s = n > 1 ? (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot() : 0
        return (m, s)
    }

    static func pm(_ xs: [Double], _ digits: Int = 3) -> String {
        let (m, s) = meanStd(xs)
        return String(format: "%.\(digits)f ± %.\(digits)f", m, s)
    }

    /// The first step at which a run's validation accuracy reaches `target`, if it does.
    static func stepsToReach(_ curve: [[Double]], _ target: Double) -> Double? {
        curve.first { $0[1] >= target - 1e-12 }?[0]
    }

    // MARK: - Transfer

    /// Tables 1, 2 and 4 of the issue: modes per task, per-layer probes, domain adaptation.
    public func runTransfer(output: URL) throws {
        let s = settings
        let encoder = try pretrain("mlm-s1", objective: .masked(nsp: false), corpus: "all", seed: 1, tokens: s.pretrainTokens)
        // 1. Modes per task.
        var csv = "task,mode,seed,test_accuracy,test_macro_f1,best_val_accuracy,trainable_parameters,seconds,ms_per_step,steps,steps_to_scratch_best,majority_baseline\n"
        var md = "## 1. Scratch vs probe vs freeze:K vs full fine-tuning\n\n"
        md += "Encoder: \(s.layers) blocks, d_model \(s.dModel), \(s.heads) heads, context \(s.context), vocabulary \(s.vocabulary); masked-LM pretraining on Shakespeare + KJV for \(formatCount(s.pretrainTokens)) tokens. Fine-tuning: \(s.finetuneEpochs) epochs (probes: up to \(FineTuneOptions.probeEpochs), stopping after 8 epochs without improvement), testing the checkpoint with the best validation accuracy (evaluated every 25 steps); \(s.seeds.count) seeds; mean ± std.\n\n"
        md += "| task | mode | test accuracy | macro-F1 | trainable params | time (s) | ms/step | steps to scratch's best |\n|---|---|---|---|---|---|---|---|\n"
        let modes: [(String, FineTuneMode, Bool)] = [("scratch", .full, true), ("probe", .probe, false)]
            + s.freezeLevels.map { ("freeze:\($0)", FineTuneMode.freeze($0), false) } + [("full", .full, false)]
        for task in s.tasks {
            var scratchBest: [Int: Double] = [:]
            var baseline = 0.0
            for (name, mode, scratch) in modes {
                var results: [FineTuneResult] = []
                for seed in s.seeds {
                    let r = try cached("ft-\(task)-\(name)-s\(seed)") { () -> FineTuneResult in
                        log("fine-tuning \(task) \(name) seed \(seed)")
                        return try finetune(encoder, task: task, mode: mode, scratch: scratch, seed: seed)
                    }
                    results.append(r)
                    if scratch { scratchBest[seed] = r.bestValidationAccuracy }
                    baseline = r.majorityBaseline
                }
                let reach = zip(s.seeds, results).compactMap { seed, r in Self.stepsToReach(r.curve, scratchBest[seed] ?? 1) }
                for (seed, r) in zip(s.seeds, results) {
                    let st = Self.stepsToReach(r.curve, scratchBest[seed] ?? 1)
                    csv += "\(task),\(name),\(seed),\(r.testAccuracy),\(r.testMacroF1),\(r.bestValidationAccuracy),\(r.trainableParameters),\(String(format: "%.2f", r.seconds)),\(String(format: "%.2f", r.stepSeconds * 1000)),\(r.steps),\(st.map { String(Int($0)) } ?? ""),\(r.majorityBaseline)\n"
                }
                let reachText = reach.isEmpty ? "never" : String(format: "%.0f (%d/%d seeds)", Self.meanStd(reach).0, reach.count, results.count)
                md += "| \(task) | \(name) | \(Self.pm(results.map(\.testAccuracy))) | \(Self.pm(results.map(\.testMacroF1))) | \(formatCount(results[0].trainableParameters)) | \(String(format: "%.1f", Self.meanStd(results.map(\.seconds)).0)) | \(String(format: "%.1f", Self.meanStd(results.map { $0.stepSeconds * 1000 }).0)) | \(scratch ? "—" : reachText) |\n"
            }
            md += "| \(task) | majority class | \(String(format: "%.3f", baseline)) | | | | | |\n"
        }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try AtomicFile.write(csv, to: output.appendingPathComponent("transfer.csv"))

        // 2. Per-layer probes.
        var probes = "task,layer,seed,test_accuracy,test_macro_f1\n"
        md += "\n## 2. Linear probes by layer\n\nMean of the token states after block L (L = 0: the embeddings; L = \(s.layers): after the final norm), a linear head trained on the frozen features (the same probe as the `probe` rows of table 1). Test accuracy, mean ± std over \(s.seeds.count) seeds.\n\n| task | " + (0...s.layers).map { "L=\($0)" }.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: s.layers + 1) + "\n"
        for task in s.tasks {
            var row = "| \(task) |"
            for layer in 0...s.layers {
                var accs: [Double] = []
                for seed in s.seeds {
                    let r = try cached("probe-\(task)-L\(layer)-s\(seed)") { () -> FineTuneResult in
                        log("probe \(task) layer \(layer) seed \(seed)")
                        return try finetune(encoder, task: task, mode: .probe, scratch: false, layer: layer, seed: seed)
                    }
                    accs.append(r.testAccuracy)
                    probes += "\(task),\(layer),\(seed),\(r.testAccuracy),\(r.testMacroF1)\n"
                }
                row += " \(Self.pm(accs)) |"
            }
            md += row + "\n"
        }
        try AtomicFile.write(probes, to: output.appendingPathComponent("probes.csv"))

        // 4. Domain adaptation: a Shakespeare GPT continued on the Bible vs a GPT trained on the Bible alone.
        let gpt = try pretrain("clm-shakespeare-s1", objective: .nextToken, corpus: "shakespeare", seed: 1, tokens: s.pretrainTokens)
        var dom = "tokens,start,seed,val_loss,val_bpb\n"
        md += "\n## 4. Domain adaptation to the Bible\n\nA GPT of the same size pretrained on Shakespeare for \(formatCount(s.pretrainTokens)) tokens, then trained on the KJV for N tokens, against the same architecture trained on the KJV alone for the same N tokens (the same schedule for both: warmup + cosine from lr 1e-3). Validation: held-out books (every tenth). Loss in nats per token (2k vocabulary), mean ± std over \(s.seeds.count) seeds.\n\n| N tokens | from scratch | from Shakespeare | difference |\n|---|---|---|---|\n"
        for n in s.adaptationTokens {
            var scratchL: [Double] = [], preL: [Double] = []
            for seed in s.seeds {
                for pre in [false, true] {
                    let r = try cached("adapt-\(n)-\(pre ? "pre" : "scratch")-s\(seed)") { () -> AdaptationResult in
                        log("domain adaptation: \(formatCount(n)) tokens, \(pre ? "from Shakespeare" : "from scratch"), seed \(seed)")
                        return try adapt(from: pre ? gpt : nil, tokens: n, seed: seed)
                    }
                    (pre ? { preL.append(r.valLoss) } : { scratchL.append(r.valLoss) })()
                    dom += "\(n),\(pre ? "shakespeare" : "scratch"),\(seed),\(r.valLoss),\(r.valBPB)\n"
                }
            }
            md += "| \(formatCount(n)) | \(Self.pm(scratchL)) | \(Self.pm(preL)) | \(String(format: "%+.3f", Self.meanStd(preL).0 - Self.meanStd(scratchL).0)) |\n"
        }
        try AtomicFile.write(dom, to: output.appendingPathComponent("domain-adaptation.csv"))
        try AtomicFile.write("# Transfer experiments\n\nMade by `tllm experiment transfer` (settings in `transfer-settings.json`).\n\n" + md, to: output.appendingPathComponent("transfer.md"))
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(settings), to: output.appendingPathComponent("transfer-settings.json"))
    }

    public struct AdaptationResult: Codable { public var valLoss: Double; public var valBPB: Double }

    func adapt(from pretrained: URL?, tokens: Int, seed: Int) throws -> AdaptationResult {
        let run = work.appendingPathComponent("adapt").appendingPathComponent("\(tokens)-\(pretrained == nil ? "scratch" : "pre")-s\(seed)")
        try? FileManager.default.removeItem(at: run)
        var r = TrainRequest()
        r.initialWeights = pretrained
        r.layers = settings.layers; r.dModel = settings.dModel; r.heads = settings.heads; r.context = settings.context
        r.vocabulary = settings.vocabulary
        r.corpus = "kjv"
        r.tokens = tokens
        r.out = run
        var o = TrainingOptions()
        o.seed = UInt64(seed); o.samples = 0
        o.learningRate = 1e-3
        let steps = max(1, tokens / (o.batch * settings.context))
        o.warmupSteps = max(1, steps / 10)
        o.evalEvery = steps; o.checkpointEvery = steps; o.logEvery = max(1, steps / 5); o.evalTokens = 65_536
        r.options = o
        let plan = try LanguageModelTraining.plan(r, log: { _ in })
        let s = try LanguageModelTraining.execute(plan, progress: ProgressDisplay())
        if s.interrupted { throw ExperimentInterrupted() }
        return AdaptationResult(valLoss: s.validationLoss ?? .nan, valBPB: s.validationBitsPerByte ?? .nan)
    }

    // MARK: - NSP

    /// Table 3: MLM vs MLM+NSP with the same token budget, each fine-tuned (full) on every task.
    public func runNSP(output: URL) throws {
        let s = settings
        var csv = "variant,seed,mlm_val_loss,mlm_val_accuracy,nsp_val_accuracy,task,test_accuracy,test_macro_f1\n"
        var md = "# MLM vs MLM + NSP\n\nMade by `tllm experiment nsp`. Encoders of \(s.layers) blocks, d_model \(s.dModel), context \(s.context), pretrained on Shakespeare + KJV for \(formatCount(s.pretrainTokens)) tokens each, with and without next-sentence prediction (the comparison behind RoBERTa dropping NSP); each then fine-tuned (full, \(s.finetuneEpochs) epochs, the checkpoint with the best validation accuracy tested) on the three tasks. \(s.seeds.count) pretraining seeds per variant (the fine-tuning seed follows); mean ± std.\n\n"
        md += "| variant | MLM val loss | MLM val accuracy | NSP val accuracy | " + s.tasks.joined(separator: " | ") + " |\n|---|---|---|---|" + String(repeating: "---|", count: s.tasks.count) + "\n"
        for (variant, nsp) in [("MLM", false), ("MLM+NSP", true)] {
            var loss: [Double] = [], acc: [Double] = [], nspAcc: [Double] = []
            var byTask: [String: [Double]] = [:]
            for seed in s.seeds {
                let name = nsp ? "mlmnsp-s\(seed)" : "mlm-s\(seed)"
                let run = try pretrain(name, objective: .masked(nsp: nsp), corpus: "all", seed: seed, tokens: s.pretrainTokens)
                let summary = try JSONDecoder().decode(Trainer.Summary.self, from: Data(contentsOf: run.appendingPathComponent("summary.json")))
                loss.append(summary.validationLoss ?? .nan)
                acc.append(summary.extra["mlm_accuracy"] ?? .nan)
                if nsp { nspAcc.append(summary.extra["nsp_accuracy"] ?? .nan) }
                for task in s.tasks {
                    let r = try cached("nsp-\(variant)-\(task)-s\(seed)") { () -> FineTuneResult in
                        log("fine-tuning \(task) on \(variant) seed \(seed)")
                        return try finetune(run, task: task, mode: .full, scratch: false, seed: seed)
                    }
                    byTask[task, default: []].append(r.testAccuracy)
                    csv += "\(variant),\(seed),\(summary.validationLoss ?? .nan),\(summary.extra["mlm_accuracy"] ?? .nan),\(summary.extra["nsp_accuracy"].map { String($0) } ?? ""),\(task),\(r.testAccuracy),\(r.testMacroF1)\n"
                }
            }
            md += "| \(variant) | \(Self.pm(loss)) | \(Self.pm(acc)) | \(nsp ? Self.pm(nspAcc) : "—") | " + s.tasks.map { Self.pm(byTask[$0] ?? []) }.joined(separator: " | ") + " |\n"
        }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try AtomicFile.write(csv, to: output.appendingPathComponent("nsp.csv"))
        try AtomicFile.write(md, to: output.appendingPathComponent("nsp.md"))
    }
}

public struct ExperimentInterrupted: Error, CustomStringConvertible {
    public var description: String { "interrupted: finished sub-runs are saved; run the same command again to continue" }
}
