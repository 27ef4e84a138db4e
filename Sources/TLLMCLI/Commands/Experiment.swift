import Foundation
import TLLMCore
import TLLMModels
import TLLMTraining

/// Which comparison `tllm experiment` runs.
enum ExperimentName: String, ArgumentChoice { case transfer, nsp, dictionary, icl, contrastive, mi, simcse, cpc }

struct ExperimentCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "experiment",
        summary: "run the comparisons and write Markdown + CSV tables (transfer | nsp | dictionary | icl | contrastive | mi | simcse | cpc)",
        usage: "transfer|nsp|dictionary|icl|contrastive|mi|simcse|cpc [--quick] [--plan FILE.json] [--out docs/results] [--work runs/experiments] [--seeds 1,2,3] [--pretrain-tokens 3M] [--model RUN]",
        discussion: "dictionary: self-taught learning and semi-coupled dictionaries on the digits (seeds 1–5 unless --seeds),\nand with --model RUN sparse features of that GPT's residual stream (--layer L).")

    @Option("--out", "DIR", help: "where the tables go") var out = "docs/results"
    @Option("--work", "DIR", help: "pretrained models and sub-run results (reused on re-runs)") var work = "runs/experiments"
    @Option("--evals", "DIR", help: "task folder root") var evals = "evals"
    @Option("--seeds", "LIST", help: "seeds (icl: one seed, for the suite or the plan)", .nonNegative) var seeds = List([1, 2, 3])
    @Option("--pretrain-tokens", "N", help: "pretraining budget per model", .positive) var pretrainTokens = Count(3_000_000)
    @Option("--model", "RUN", help: "dictionary: a trained GPT run folder for the language-model part") var model: String?
    @Option("--layer", "L", help: "dictionary: read the residual stream after this block", .positive) var layer = 3
    @Flag("--quick", help: "icl: the short version (≤ 10 minutes on 2 cores)") var quick: Bool
    @Option("--plan", "FILE.json", help: "icl: train one SymbolicTrainer plan from a JSON file instead of the suite") var plan: String?
    @Positionals("transfer|nsp|dictionary|icl|contrastive|mi|simcse|cpc") var which: [String]
    let output = OutputOptions()
    let runtime = RuntimeOptions()

    func run() throws {
        guard which.count == 1, let name = ExperimentName(rawValue: which[0]) else { throw CLIError("tllm experiment: say which: transfer, nsp, dictionary, icl, contrastive, mi, simcse or cpc") }
        if name == .dictionary { return try runDictionary() }
        if name == .icl { return try runICL() }
        if name == .contrastive { return try runContrastive() }
        if name == .cpc {
            let t0 = Clock.now()
            try CPCExperiments(settings: .init()).run(output: URL(fileURLWithPath: out), progress: { Log.info("tllm experiment cpc: \($0)") })
            Log.info(String(format: "wrote %@/cpc.md and cpc.csv (%.1f min)", out, (Clock.now() - t0) / 60))
            return
        }
        if name == .simcse {
            var st = SimCSEExperiments.Settings()
            if $seeds.isSet { st.seeds = seeds.values }
            let t0 = Clock.now()
            try SimCSEExperiments(settings: st, work: URL(fileURLWithPath: work), evals: URL(fileURLWithPath: evals))
                .run(output: URL(fileURLWithPath: out), progress: { Log.info("tllm experiment simcse: \($0)") })
            Log.info(String(format: "wrote %@/simcse.md and simcse.csv (%.1f min)", out, (Clock.now() - t0) / 60))
            return
        }
        if name == .mi {
            let t0 = Clock.now()
            try MIExperiments(settings: .init()).run(output: URL(fileURLWithPath: out), progress: { Log.info("tllm experiment mi: \($0)") })
            Log.info(String(format: "wrote %@/mi-estimators.md, .csv, .svg (%.1f min)", out, (Clock.now() - t0) / 60))
            return
        }
        var s = TransferExperiments.Settings()
        s.seeds = seeds.values
        s.pretrainTokens = pretrainTokens.value
        let x = TransferExperiments(settings: s, work: URL(fileURLWithPath: work), evals: URL(fileURLWithPath: evals))
        let dir = URL(fileURLWithPath: out)
        let t0 = Clock.now()
        do {
            if name == .transfer { try x.runTransfer(output: dir) } else { try x.runNSP(output: dir) }
        } catch let e as ExperimentInterrupted {
            Log.info("tllm experiment: \(e)")
            throw ExitRequest(code: 130)
        }
        let files = name == .transfer ? "transfer.md, transfer.csv, probes.csv, domain-adaptation.csv" : "nsp.md, nsp.csv"
        Log.info(String(format: "wrote %@/%@ (%.1f min)", dir.path, files, (Clock.now() - t0) / 60))
    }

    func runDictionary() throws {
        var s = DictionaryExperiments.Settings()
        if $seeds.isSet { s.seeds = seeds.values }
        s.layer = layer
        let t0 = Clock.now()
        try DictionaryExperiments(settings: s).run(output: URL(fileURLWithPath: out), model: model.map { URL(fileURLWithPath: $0) },
                                                   progress: { Log.info("tllm experiment dictionary: \($0)") })
        Log.info(String(format: "wrote %@/dictionary.md and its CSV files (%.1f min)", out, (Clock.now() - t0) / 60))
    }

    func runContrastive() throws {
        var s = ContrastiveExperiments.Settings()
        if $seeds.isSet { s.seeds = seeds.values }
        if quick { s.epochs = 30; s.supervisedSteps = 150 }
        let t0 = Clock.now()
        try ContrastiveExperiments(settings: s).run(output: URL(fileURLWithPath: out), progress: { Log.info("tllm experiment contrastive: \($0)") })
        Log.info(String(format: "wrote %@/contrastive.md and contrastive.csv (%.1f min)", out, (Clock.now() - t0) / 60))
    }

    func runICL() throws {
        let t0 = Clock.now()
        var settings = ICLExperiments.Settings(quick: quick)
        if $seeds.isSet {
            guard seeds.values.count == 1 else { throw CLIError("tllm experiment icl: --seeds takes one seed (run once per seed, each with its own --out)") }
            settings.seed = UInt64(seeds.values[0])
        }
        if let plan {
            let url = URL(fileURLWithPath: plan)
            var p: SymbolicTrainer.Plan
            guard let data = FileManager.default.contents(atPath: url.path) else { throw CLIError("tllm experiment icl: \(plan): cannot read the plan") }
            do { p = try JSONDecoder().decode(SymbolicTrainer.Plan.self, from: data) } catch let e as DecodingError {
                throw CLIError("tllm experiment icl: \(plan): not a plan: \(ModelStore.describe(e))")
            } catch { throw CLIError("tllm experiment icl: \(plan): not JSON") }
            if $seeds.isSet { p.seed = settings.seed }                              // --seeds overrides the plan's seed
            let r = try ICLExperiments(settings: settings).run(plan: p, output: $out.isSet ? URL(fileURLWithPath: out) : nil,
                                                                         progress: { Log.info("tllm experiment icl: \($0)") })
            if output.json { printJSON(encodable: r); return }
            print(String(format: "%@: accuracy %.3f, max prefix matching %.3f, ICL score %.3f, %d steps in %.1f min", r.summary.name,
                         r.summary.recallAccuracy, r.summary.maxPrefixMatching, r.summary.iclScore, r.summary.steps, r.summary.seconds / 60))
            if let shots = r.labelShots {
                print("label mapping by shots: " + shots.sorted { Int($0.key)! < Int($1.key)! }.map { String(format: "%@: %.3f", $0.key, $0.value) }.joined(separator: ", "))
            }
            return
        }
        let dir = URL(fileURLWithPath: $out.isSet ? out : "docs/results/icl")
        try ICLExperiments(settings: settings).run(output: dir, progress: { Log.info("tllm experiment icl: \($0)") })
        if output.json, let data = FileManager.default.contents(atPath: dir.appendingPathComponent("summary.json").path) {
            FileHandle.standardOutput.write(data); print()
        }
        Log.info(String(format: "wrote %@/emergence.md, summary.json, CSV and SVG files (%.1f min)", dir.path, (Clock.now() - t0) / 60))
    }
}
