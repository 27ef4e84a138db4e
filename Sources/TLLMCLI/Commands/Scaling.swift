import Foundation
import TLLMCore
import TLLMModels
import TLLMPlot
import TLLMScaling
import TLLMTraining

enum SweepCommand: Command {
    static let spec = CommandSpec(
        name: "sweep",
        summary: "train a grid of model sizes × token (or FLOP) budgets; resumable; writes sweep.csv and curves.csv",
        usage: "[--quick] [--params 100K,300K,1M,3M] [--tokens 1M,3M,10M | --flops 1e13,3e13] [--seeds 1] [--grid FILE.json] --out runs/NAME",
        options: [
            OptionSpec(name: "--params", value: "LIST", help: "non-embedding parameter counts", defaultValue: "100K,300K,1M,3M"),
            OptionSpec(name: "--tokens", value: "LIST", help: "token budgets", defaultValue: "1M,3M,10M"),
            OptionSpec(name: "--flops", value: "LIST", help: "compute budgets (tokens = C/6N per size), instead of --tokens"),
            OptionSpec(name: "--seeds", value: "N", help: "seeds per cell", defaultValue: "1"),
            OptionSpec(name: "--objective", value: "O", help: "clm", defaultValue: "clm"),
            OptionSpec(name: "--grid", value: "FILE", help: "a JSON grid (fields: parameters, tokens, flops, seeds, vocabulary, corpus, context, batch, learning_rate, eval_tokens)"),
            OptionSpec(name: "--quick", value: nil, help: "the ~10-minute preset: 100K,300K,1M × 300K,1M,3M"),
            OptionSpec(name: "--vocab", value: "V", help: "vocabulary", defaultValue: "vocab/tllm-2k.json"),
            OptionSpec(name: "--corpus", value: "C", help: "corpus", defaultValue: "all"),
            OptionSpec(name: "--context", value: "T", help: "sequence length", defaultValue: "128"),
            OptionSpec(name: "--lr", value: "LR", help: "peak learning rate", defaultValue: "2e-3"),
            OptionSpec(name: "--out", value: "DIR", help: "sweep folder (re-running it resumes)"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
        ],
        discussion: "Each cell trains with warmup + cosine to its own budget (as Chinchilla requires). Sizes count\nnon-embedding parameters; the default vocabulary is the 2048-token one so that small models are not\nmostly embedding.",
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let out = args.string("--out") else { throw CLIError("tllm sweep: --out runs/NAME is required") }
        guard args.string("--objective", default: "clm") == "clm" else { throw CLIError("tllm sweep: only --objective clm is supported") }
        var grid: SweepGrid
        if let g = args.string("--grid") { grid = try SweepGrid.read(URL(fileURLWithPath: g)) } else if args.has("--quick") { grid = .quick } else {
            grid = .standard
        }
        if args.isSet("--params") { grid.parameters = try args.countList("--params")! }
        if args.isSet("--tokens") { grid.tokens = try args.countList("--tokens")!; grid.flops = nil }
        if let f = args.string("--flops") {
            var v: [Double] = []
            for p in f.split(separator: ",") {
                guard let x = Double(p) else { throw CLIError("tllm sweep: --flops expects numbers like 1e13,3e13, got '\(p)'") }
                v.append(x)
            }
            grid.flops = v; grid.tokens = nil
        }
        if args.isSet("--seeds") { grid.seeds = try args.int("--seeds", default: 1) }
        if args.isSet("--vocab") { grid.vocabulary = args.string("--vocab")! }
        if args.isSet("--corpus") { grid.corpus = args.string("--corpus")! }
        if args.isSet("--context") { grid.context = try args.int("--context", default: 128) }
        if args.isSet("--lr") { grid.learningRate = Float(try args.double("--lr", default: 2e-3)) }
        let cells = try grid.cells()
        let sizes = grid.parameters.map { formatCount($0) }.joined(separator: ", ")
        let budgets: String
        if let t = grid.tokens { budgets = t.map { formatCount($0) }.joined(separator: ", ") + " tokens" } else {
            budgets = (grid.flops ?? []).map { String(format: "%.0e", $0) }.joined(separator: ", ") + " FLOPs"
        }
        Log.info("sweep: \(cells.count) cells (\(sizes) non-embedding parameters × \(budgets) × \(grid.seeds) seed(s)) → \(out)")
        let runner = SweepRunner(grid: grid, root: URL(fileURLWithPath: out))
        let complete = try runner.run()
        Log.info(complete ? "sweep complete: \(out)/sweep.csv, \(out)/curves.csv (fit with: tllm fit \(out)/sweep.csv)"
                          : "sweep interrupted: tables are consistent; re-run the same command to continue")
        if !complete { throw ExitRequest(code: 130) }
    }
}

enum FitCommand: Command {
    static let spec = CommandSpec(
        name: "fit",
        summary: "fit scaling laws (L(N), L(D), L(C), Chinchilla L(N,D)) to a sweep",
        usage: "SWEEP.csv [--curves curves.csv] [--bootstrap 100] [--json]",
        options: [
            OptionSpec(name: "--curves", value: "FILE", help: "evaluation points for L(C) (default: curves.csv beside the sweep)"),
            OptionSpec(name: "--bootstrap", value: "N", help: "bootstrap resamples for the intervals", defaultValue: "100"),
            OptionSpec(name: "--json", value: nil, help: "print one JSON object"),
        ])

    static func run(_ args: Arguments) throws {
        guard args.positionals.count == 1 else { throw CLIError("tllm fit: give one sweep.csv") }
        let path = args.positionals[0]
        let curves = args.string("--curves") ?? URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("curves.csv").path
        let r = try FitReport.run(sweep: path, curves: curves, bootstrap: try args.int("--bootstrap", default: 100))
        if args.has("--json") { printJSON(encodable: r) } else { print(FitReport.text(r), terminator: "") }
    }
}

enum PlotCommand: Command {
    static let spec = CommandSpec(
        name: "plot",
        summary: "plot columns of a CSV as an SVG chart (log axes, groups, fitted power laws) with a terminal preview",
        usage: "FILE.csv --x COL --y COL [--group COL] [--log x,y] [--fit power|chinchilla] [--title T] -o OUT.svg",
        options: [
            OptionSpec(name: "--x", value: "COL", help: "x column"),
            OptionSpec(name: "--y", value: "COL", help: "y column"),
            OptionSpec(name: "--group", value: "COL", help: "one series per value of this column"),
            OptionSpec(name: "--log", value: "AXES", help: "x, y or x,y"),
            OptionSpec(name: "--fit", value: "F", help: "power (E + A·x^-a per series) or chinchilla (sweep.csv: x = params, group = tokens)"),
            OptionSpec(name: "--title", value: "T", help: "chart title"),
            OptionSpec(name: "--where", value: "COL=V[,COL=V]", help: "keep only rows where the columns have these values"),
            OptionSpec(name: "-o", value: "OUT", help: "SVG file to write"),
            OptionSpec(name: "--no-preview", value: nil, help: "do not print the terminal preview"),
        ])

    static func run(_ args: Arguments) throws {
        guard args.positionals.count == 1 else { throw CLIError("tllm plot: give one CSV file") }
        guard let xc = args.string("--x"), let yc = args.string("--y") else { throw CLIError("tllm plot: --x COL and --y COL are required") }
        let logs = Set((args.string("--log") ?? "").split(separator: ",").map(String.init))
        for l in logs where l != "x" && l != "y" { throw CLIError("tllm plot: --log takes x, y or x,y") }
        let fit = args.string("--fit")
        if let f = fit, f != "power" && f != "chinchilla" { throw CLIError("tllm plot: --fit must be power or chinchilla") }
        var filters: [(String, String)] = []
        for part in (args.string("--where") ?? "").split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw CLIError("tllm plot: --where expects COL=VALUE, got '\(part)'") }
            filters.append((kv[0], kv[1]))
        }
        let chart = try PlotBuilder.chart(csv: args.positionals[0], x: xc, y: yc, group: args.string("--group"), logX: logs.contains("x"),
                                          logY: logs.contains("y"), fit: fit, title: args.string("--title"), filters: filters)
        let hidden = chart.series.filter(\.markers).flatMap(\.points).filter { (chart.logX && $0.x <= 0) || (chart.logY && $0.y <= 0) }.count
        if hidden > 0 {
            Log.info("note: \(hidden) point(s) with a value ≤ 0 on a log axis are not drawn (plot without --log to see them)")
        }
        if let out = args.string("-o") {
            try AtomicFile.write(chart.svg(), to: URL(fileURLWithPath: out))
            Log.info("wrote \(out)")
        }
        if !args.has("--no-preview") { print(chart.terminalPreview(), terminator: "") }
    }
}
