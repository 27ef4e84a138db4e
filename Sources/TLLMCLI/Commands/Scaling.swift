import Foundation
import TLLMCore
import TLLMModels
import TLLMPlot
import TLLMScaling
import TLLMTraining

struct SweepCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "sweep",
        summary: "train a grid of model sizes × token (or FLOP) budgets; resumable; writes sweep.csv and curves.csv",
        usage: "[--quick] [--params 100K,300K,1M,3M] [--tokens 1M,3M,10M | --flops 1e13,3e13] [--seeds 1] [--grid FILE.json] [--plan] --out runs/NAME\n       --cell I | --worker [--lease 300] | --collect  --out runs/NAME",
        discussion: """
        Each cell trains with warmup + cosine to its own budget (as Chinchilla requires). Sizes count
        non-embedding parameters; the default vocabulary is the 2048-token one so that small models are not
        mostly embedding.
        Many machines: --plan writes the grid (sweep.json) and exits; then any number of `--cell I` jobs (one
        per Slurm array task or Kubernetes index) and `--worker` processes share the folder, each cell run
        under a claim whose lease its worker renews (a lapsed claim is taken over and the cell resumes from its
        checkpoint); --collect merges finished cells into sweep.csv / curves.csv and lists the rest.
        See docs/scale-out.md.
        """)

    @Option("--params", "LIST", help: "non-embedding parameter counts", .positive, defaultDescription: "100K,300K,1M,3M") var params: List<Count>?
    @Option("--tokens", "LIST", help: "token budgets", .positive, defaultDescription: "1M,3M,10M") var tokens: List<Count>?
    @Option("--flops", "LIST", help: "compute budgets (tokens = C/6N per size), instead of --tokens", .positive) var flops: List<Double>?
    @Option("--seeds", "N", help: "seeds per cell", .positive, defaultDescription: "1") var seeds: Int?
    @Option("--objective", "O", help: "clm") var objective = ContinuedObjective.clm
    @Option("--grid", "FILE", help: "a JSON grid (fields: parameters, tokens, flops, seeds, vocabulary, corpus, context, batch, learning_rate, eval_tokens)") var grid: String?
    @Flag("--quick", help: "the ~10-minute preset: 100K,300K,1M × 300K,1M,3M") var quick: Bool
    @Option("--vocab", "V", help: "vocabulary", defaultDescription: "vocab/tllm-2k.json") var vocab: String?
    @Option("--corpus", "C", help: "corpus", defaultDescription: "all") var corpus: String?
    @Option("--context", "T", help: "sequence length", .positive, defaultDescription: "128") var context: Int?
    @Option("--lr", "LR", help: "peak learning rate", .positive, defaultDescription: "2e-3") var lr: Float?
    @Option("--out", "DIR", help: "sweep folder (re-running it resumes)") var out: String?
    @Flag("--plan", help: "write the grid (sweep.json) into --out and exit") var plan: Bool
    @Option("--cell", "I", help: "run cell I of the planned sweep (0-based, smallest compute first; e.g. $SLURM_ARRAY_TASK_ID)", .nonNegative) var cell: Int?
    @Flag("--worker", help: "claim and run cells of the planned sweep until none is left") var worker: Bool
    @Flag("--collect", help: "merge the finished cells into sweep.csv / curves.csv; list running, failed and missing ones") var collect: Bool
    @Option("--lease", "SECONDS", help: "claim lease, renewed every third of it while a cell runs", .positive) var lease: Double = 300
    let runtime = RuntimeOptions()

    func run() throws {
        guard let out else { throw CLIError("tllm sweep: --out runs/NAME is required") }
        let modes = [plan, cell != nil, worker, collect].filter { $0 }.count
        if modes > 1 { throw CLIError("tllm sweep: give one of --plan, --cell, --worker and --collect") }
        if cell != nil || worker || collect { return try runPlanned(URL(fileURLWithPath: out)) }
        if tokens != nil && flops != nil { throw CLIError("tllm sweep: give --tokens or --flops, not both") }
        var g: SweepGrid = try grid.map { try SweepGrid.read(URL(fileURLWithPath: $0)) } ?? (quick ? .quick : .standard)
        if let params { g.parameters = params.values.map(\.value) }
        if let tokens { g.tokens = tokens.values.map(\.value); g.flops = nil }
        if let flops { g.flops = flops.values; g.tokens = nil }
        if let seeds { g.seeds = seeds }
        if let vocab { g.vocabulary = vocab }
        if let corpus { g.corpus = corpus }
        if let context { g.context = context }
        if let lr { g.learningRate = lr }
        let cells = try g.cells()
        let sizes = g.parameters.map { formatCount($0) }.joined(separator: ", ")
        let budgets = g.tokens.map { $0.map { formatCount($0) }.joined(separator: ", ") + " tokens" }
            ?? (g.flops ?? []).map { String(format: "%.0e", $0) }.joined(separator: ", ") + " FLOPs"
        Log.info("sweep: \(cells.count) cells (\(sizes) non-embedding parameters × \(budgets) × \(g.seeds) seed(s)) → \(out)")
        if plan {
            try SweepRunner(grid: g, root: URL(fileURLWithPath: out)).writePlan()
            Log.info("planned: \(out)/sweep.json; run cells with --cell 0…\(cells.count - 1) or --worker, then --collect")
            return
        }
        let complete = try SweepRunner(grid: g, root: URL(fileURLWithPath: out)).run()
        Log.info(complete ? "sweep complete: \(out)/sweep.csv, \(out)/curves.csv (fit with: tllm fit \(out)/sweep.csv)"
                          : "sweep interrupted: tables are consistent; re-run the same command to continue")
        if !complete { throw ExitRequest(code: 130) }
    }
}

extension SweepCommand {
    /// `--cell`, `--worker`, `--collect` on a planned sweep.
    func runPlanned(_ root: URL) throws {
        if $params.isSet || $tokens.isSet || $flops.isSet || $seeds.isSet || $grid.isSet || quick {
            throw CLIError("tllm sweep: the grid comes from \(root.path)/sweep.json with --cell/--worker/--collect; give grid options with --plan")
        }
        let runner = try SweepRunner.planned(root)
        if collect {
            let c = try runner.collect(lease: lease)
            print("\(c.finished.count) finished, \(c.running.count) running, \(c.failed.count) failed, \(c.missing.count) not started or abandoned → \(root.path)/sweep.csv")
            for r in c.running { print("running: \(r)") }
            for (id, why) in c.failed { print("failed: \(id): \(why)") }
            for m in c.missing { print("missing: \(m)") }
            return
        }
        if let cell {
            switch try runner.runCell(index: cell, lease: lease) {
            case .finished: Log.info("sweep: cell \(cell) finished")
            case .alreadyFinished: Log.info("sweep: cell \(cell) was already finished")
            case .busy(let who): Log.info("sweep: cell \(cell) is being run by \(who) under a live lease; nothing to do")
            case .failed(let why): throw CLIError("tllm sweep: cell \(cell) failed: \(why)")
            case .interrupted: throw ExitRequest(code: 130)
            }
            return
        }
        let done = try runner.work(lease: lease, log: { Log.info("sweep worker: \($0)") })
        Log.info("sweep worker: no cell left; this worker finished \(done.count): \(done.joined(separator: ", "))")
        if Interrupt.requested { throw ExitRequest(code: 130) }
    }
}

struct FitCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "fit",
        summary: "fit scaling laws (L(N), L(D), L(C), Chinchilla L(N,D)) to a sweep",
        usage: "SWEEP.csv [--curves curves.csv] [--bootstrap 100] [--json]")

    @Option("--curves", "FILE", help: "evaluation points for L(C)", defaultDescription: "curves.csv beside the sweep") var curves: String?
    @Option("--bootstrap", "N", help: "bootstrap resamples for the intervals", .nonNegative) var bootstrap = 100
    @Positionals("SWEEP.csv") var files: [String]
    let output = OutputOptions()

    func run() throws {
        guard files.count == 1 else { throw CLIError("tllm fit: give one sweep.csv") }
        let path = files[0]
        let c = curves ?? URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("curves.csv").path
        let r = try FitReport.run(sweep: path, curves: c, bootstrap: bootstrap)
        if output.json { printJSON(encodable: r) } else { print(FitReport.text(r), terminator: "") }
    }
}

/// `--fit power|chinchilla`.
enum PlotFit: String, ArgumentChoice { case power, chinchilla }

struct PlotCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "plot",
        summary: "plot columns of a CSV as an SVG chart (log axes, groups, fitted power laws) with a terminal preview",
        usage: "FILE.csv --x COL --y COL [--group COL] [--log x,y] [--fit power|chinchilla] [--title T] -o OUT.svg")

    @Option("--x", "COL", help: "x column") var x: String?
    @Option("--y", "COL", help: "y column") var y: String?
    @Option("--group", "COL", help: "one series per value of this column") var group: String?
    @Option("--log", "AXES", help: "x, y or x,y") var log: List<String>?
    @Option("--fit", "F", help: "power (E + A·x^-a per series) or chinchilla (sweep.csv: x = params, group = tokens)") var fit: PlotFit?
    @Option("--title", "T", help: "chart title") var title: String?
    @Option("--where", "COL=V[,COL=V]", help: "keep only rows where the columns have these values") var filter: List<String>?
    @Option("-o", "OUT", help: "SVG file to write") var out: String?
    @Flag("--no-preview", help: "do not print the terminal preview") var noPreview: Bool
    @Positionals("FILE.csv") var files: [String]

    func run() throws {
        guard files.count == 1 else { throw CLIError("tllm plot: give one CSV file") }
        guard let x, let y else { throw CLIError("tllm plot: --x COL and --y COL are required") }
        let logs = Set(log?.values ?? [])
        for l in logs where l != "x" && l != "y" { throw CLIError("tllm plot: --log takes x, y or x,y") }
        let filters = try (filter?.values ?? []).map { part -> (String, String) in
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw CLIError("tllm plot: --where expects COL=VALUE, got '\(part)'") }
            return (kv[0], kv[1])
        }
        let chart = try PlotBuilder.chart(csv: files[0], x: x, y: y, group: group, logX: logs.contains("x"),
                                          logY: logs.contains("y"), fit: fit?.rawValue, title: title, filters: filters)
        let hidden = chart.series.filter(\.markers).flatMap(\.points).filter { (chart.logX && $0.x <= 0) || (chart.logY && $0.y <= 0) }.count
        if hidden > 0 {
            Log.info("note: \(hidden) point(s) with a value ≤ 0 on a log axis are not drawn (plot without --log to see them)")
        }
        if let out {
            try AtomicFile.write(chart.svg(), to: URL(fileURLWithPath: out))
            Log.info("wrote \(out)")
        }
        if !noPreview { print(chart.terminalPreview(), terminator: "") }
    }
}
