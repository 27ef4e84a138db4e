import Foundation
import TLLMCore
import TLLMTraining

enum ExperimentCommand: Command {
    static let spec = CommandSpec(
        name: "experiment",
        summary: "run the transfer-learning comparisons and write Markdown + CSV tables (transfer | nsp)",
        usage: "transfer|nsp [--out docs/results] [--work runs/experiments] [--seeds 1,2,3] [--pretrain-tokens 3M]",
        options: [
            OptionSpec(name: "--out", value: "DIR", help: "where the tables go", defaultValue: "docs/results"),
            OptionSpec(name: "--work", value: "DIR", help: "pretrained models and sub-run results (reused on re-runs)", defaultValue: "runs/experiments"),
            OptionSpec(name: "--evals", value: "DIR", help: "task folder root", defaultValue: "evals"),
            OptionSpec(name: "--seeds", value: "LIST", help: "seeds", defaultValue: "1,2,3"),
            OptionSpec(name: "--pretrain-tokens", value: "N", help: "pretraining budget per model", defaultValue: "3M"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
        ])

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let which = args.positionals.first, ["transfer", "nsp"].contains(which), args.positionals.count == 1 else {
            throw CLIError("tllm experiment: say which: transfer or nsp")
        }
        var s = TransferExperiments.Settings()
        if let seeds = try args.intList("--seeds") { s.seeds = seeds }
        if let t = try args.count("--pretrain-tokens") { s.pretrainTokens = t }
        let x = TransferExperiments(settings: s, work: URL(fileURLWithPath: args.string("--work", default: "runs/experiments")),
                                    evals: URL(fileURLWithPath: args.string("--evals", default: "evals")))
        let out = URL(fileURLWithPath: args.string("--out", default: "docs/results"))
        let t0 = Clock.now()
        do {
            if which == "transfer" { try x.runTransfer(output: out) } else { try x.runNSP(output: out) }
        } catch let e as ExperimentInterrupted {
            Log.info("tllm experiment: \(e)")
            throw ExitRequest(code: 130)
        }
        Log.info(String(format: "wrote %@/%@ (%.1f min)", out.path, which == "transfer" ? "transfer.md, transfer.csv, probes.csv, domain-adaptation.csv" : "nsp.md, nsp.csv", (Clock.now() - t0) / 60))
    }
}
