import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer
import TLLMTraining

/// A grid of training runs for scaling laws: model sizes × token budgets (or FLOP budgets) × seeds.
///
/// Sizes count **non-embedding** parameters (Kaplan et al.'s N). Each cell is an ordinary training
/// run in `runs/NAME/cells/<id>/`; the sweep is resumable and idempotent: finished cells are
/// skipped, unfinished ones continue from their checkpoints, and `sweep.csv` / `curves.csv` are
/// rewritten atomically after every cell.
public struct SweepGrid: Codable, Equatable {
    public var parameters: [Int]
    /// Token budgets; or nil when `flops` decides the tokens of each size.
    public var tokens: [Int]?
    /// Compute budgets C (FLOPs): tokens = C / (6·N) per size.
    public var flops: [Double]?
    public var seeds: Int = 1
    public var objective: String = "clm"
    public var vocabulary: String = "vocab/tllm-2k.json"
    public var corpus: String = "all"
    public var context: Int = 128
    public var batch: Int = 16
    public var learningRate: Float = 2e-3
    public var evalTokens: Int = 32_768

    enum CodingKeys: String, CodingKey {
        case parameters, tokens, flops, seeds, objective, vocabulary, corpus, context, batch
        case learningRate = "learning_rate", evalTokens = "eval_tokens"
    }

    public init(parameters: [Int], tokens: [Int]? = nil, flops: [Double]? = nil) {
        self.parameters = parameters; self.tokens = tokens; self.flops = flops
    }

    /// Every field but `parameters` may be left out (the defaults above).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        parameters = try c.decode([Int].self, forKey: .parameters)
        tokens = try c.decodeIfPresent([Int].self, forKey: .tokens)
        flops = try c.decodeIfPresent([Double].self, forKey: .flops)
        seeds = try c.decodeIfPresent(Int.self, forKey: .seeds) ?? seeds
        objective = try c.decodeIfPresent(String.self, forKey: .objective) ?? objective
        vocabulary = try c.decodeIfPresent(String.self, forKey: .vocabulary) ?? vocabulary
        corpus = try c.decodeIfPresent(String.self, forKey: .corpus) ?? corpus
        context = try c.decodeIfPresent(Int.self, forKey: .context) ?? context
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? batch
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? learningRate
        evalTokens = try c.decodeIfPresent(Int.self, forKey: .evalTokens) ?? evalTokens
    }

    /// `--quick`: about 10 minutes on 2 cores.
    public static let quick = SweepGrid(parameters: [100_000, 300_000, 1_000_000], tokens: [300_000, 1_000_000, 3_000_000])
    /// The default: about an hour on 2 cores.
    public static let standard = SweepGrid(parameters: [100_000, 300_000, 1_000_000, 3_000_000], tokens: [1_000_000, 3_000_000, 10_000_000])

    /// Reads a JSON grid file (fields as `CodingKeys`; unknown fields are errors).
    public static func read(_ url: URL) throws -> SweepGrid {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TLLMError("cannot read", file: url.path) }
        let json = try JSONParser.parse([UInt8](data), path: url.path, rejectDuplicateKeys: true)
        guard let m = json.members else { throw TLLMError("a sweep grid is a JSON object", file: url.path, line: 1) }
        let known = Set(["parameters", "tokens", "flops", "seeds", "objective", "vocabulary", "corpus", "context", "batch", "learning_rate", "eval_tokens"])
        if let bad = m.first(where: { !known.contains($0.0) }) { throw TLLMError("unknown field \"\(bad.0)\"", file: url.path) }
        do { return try JSONDecoder().decode(SweepGrid.self, from: data) } catch { throw TLLMError("invalid sweep grid: \(error)", file: url.path) }
    }

    public struct Cell: Equatable {
        public var id: String
        public var parameters: Int
        public var tokens: Int
        public var seed: Int
        public init(id: String, parameters: Int, tokens: Int, seed: Int) {
            self.id = id; self.parameters = parameters; self.tokens = tokens; self.seed = seed
        }
    }

    /// Every cell, smallest compute first.
    public func cells() throws -> [Cell] {
        guard !parameters.isEmpty else { throw TLLMError("the sweep has no model sizes") }
        guard batch >= 1, context >= 1, seeds >= 1, learningRate > 0, learningRate.isFinite, evalTokens >= 1,
              parameters.allSatisfy({ $0 > 0 }) else {
            throw TLLMError("the sweep grid needs batch, context, seeds, eval_tokens, parameters ≥ 1 and a positive learning_rate")
        }
        var out: [Cell] = []
        for n in parameters {
            let budgets: [Int]
            if let f = flops { budgets = f.map { Int(($0 / (6 * Double(n))).rounded()) } } else if let t = tokens { budgets = t } else {
                throw TLLMError("the sweep needs token budgets (--tokens) or FLOP budgets (--flops)")
            }
            for d in budgets {
                guard d >= batch * context else { throw TLLMError("token budget \(d) is smaller than one batch (\(batch * context) tokens)") }
                for s in 0..<max(1, seeds) {
                    out.append(Cell(id: "N\(formatCount(n))-D\(formatCount(d))-s\(s + 1)", parameters: n, tokens: d, seed: s + 1))
                }
            }
        }
        // Smallest compute first; ties by id, so that `--cell I` means the same cell everywhere.
        return out.sorted { a, b in
            let (x, y) = (Double(a.parameters) * Double(a.tokens), Double(b.parameters) * Double(b.tokens))
            return x != y ? x < y : a.id < b.id
        }
    }
}

/// One finished cell: a row of `sweep.csv`.
public struct SweepRow {
    public var id: String
    public var seed: Int
    public var config: ModelConfig
    public var tokens: Int
    public var trainLoss: Double
    public var validationLoss: Double
    public var validationBitsPerByte: Double
    public var seconds: Double
    public var tokensPerSecond: Double

    /// 6·N·D with N the non-embedding parameters (Kaplan's C).
    public var flops6ND: Double { 6 * Double(config.nonEmbeddingParameters) * Double(tokens) }
    /// (6·N + 12·L·T·d)·D: adds the attention-score products (nanoGPT / PaLM accounting).
    public var flopsWithAttention: Double {
        (6 * Double(config.nonEmbeddingParameters) + 12 * Double(config.layers) * Double(config.context) * Double(config.dModel)) * Double(tokens)
    }

    public static let columns = ["run_id", "seed", "n_layer", "d_model", "n_head", "context", "params", "non_embedding_params", "tokens",
                                 "flops_6nd", "flops_with_attention", "train_loss", "val_loss", "val_bpb", "wall_seconds", "tokens_per_s"]

    public var cells: [String] {
        [id, "\(seed)", "\(config.layers)", "\(config.dModel)", "\(config.heads)", "\(config.context)", "\(config.parameters)",
         "\(config.nonEmbeddingParameters)", "\(tokens)", String(format: "%.6e", flops6ND), String(format: "%.6e", flopsWithAttention),
         String(format: "%.6f", trainLoss), String(format: "%.6f", validationLoss), String(format: "%.6f", validationBitsPerByte),
         String(format: "%.1f", seconds), String(format: "%.1f", tokensPerSecond)]
    }
}

/// Runs a sweep.
public final class SweepRunner {
    public let grid: SweepGrid
    public let root: URL
    public var progress = ProgressDisplay()

    public init(grid: SweepGrid, root: URL) {
        self.grid = grid
        self.root = root
    }

    func cellDirectory(_ c: SweepGrid.Cell) -> URL { root.appendingPathComponent("cells").appendingPathComponent(c.id) }

    /// The request that trains one cell.
    public func request(_ c: SweepGrid.Cell) -> TrainRequest {
        var r = TrainRequest()
        r.parameters = c.parameters
        r.sizing = .nonEmbedding
        r.context = grid.context
        r.vocabulary = grid.vocabulary
        r.corpus = grid.corpus
        r.tokens = c.tokens
        var o = TrainingOptions()
        o.batch = grid.batch
        o.learningRate = grid.learningRate
        o.seed = UInt64(c.seed)
        let steps = max(1, c.tokens / (grid.batch * grid.context))
        o.warmupSteps = max(1, steps / 20)
        o.evalEvery = max(5, steps / 12)
        o.evalTokens = grid.evalTokens
        o.checkpointEvery = max(50, steps / 4)
        o.logEvery = max(1, o.evalEvery / 2)
        o.samples = 0
        r.options = o
        r.out = cellDirectory(c)
        return r
    }

    /// A finished cell's row, if the cell is complete on disk.
    func finishedRow(_ c: SweepGrid.Cell) -> SweepRow? {
        let dir = cellDirectory(c)
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("summary.json").path),
              let s = try? JSONDecoder().decode(Trainer.Summary.self, from: data), !s.interrupted,
              let config = try? ModelStore.readConfig(Checkpoint.directory(dir)),
              let v = s.validationLoss, let bpb = s.validationBitsPerByte else { return nil }
        return SweepRow(id: c.id, seed: c.seed, config: config, tokens: s.tokens, trainLoss: s.trainLoss ?? .nan, validationLoss: v,
                        validationBitsPerByte: bpb, seconds: s.seconds, tokensPerSecond: s.tokensPerSecond)
    }

    /// Rewrites `sweep.csv` and `curves.csv` from the cells on disk.
    public func writeTables(_ cells: [SweepGrid.Cell]) throws {
        var rows: [[String]] = []
        var curves: [[String]] = []
        for c in cells {
            guard let row = finishedRow(c) else { continue }
            rows.append(row.cells)
            let metrics = cellDirectory(c).appendingPathComponent("metrics.csv")
            if let t = try? CSVTableLite.read(metrics.path) {
                for r in t where !(r["val_loss"] ?? "").isEmpty {
                    guard let tok = Double(r["tokens"] ?? ""), let vl = Double(r["val_loss"] ?? "") else { continue }
                    let f = 6 * Double(row.config.nonEmbeddingParameters) * tok
                    curves.append([c.id, "\(row.config.nonEmbeddingParameters)", "\(Int(tok))", String(format: "%.6e", f), String(format: "%.6f", vl)])
                }
            }
        }
        func csv(_ header: [String], _ rows: [[String]]) -> String { ([header] + rows).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n" }
        try AtomicFile.write(csv(SweepRow.columns, rows), to: root.appendingPathComponent("sweep.csv"))
        try AtomicFile.write(csv(["run_id", "non_embedding_params", "tokens", "flops", "val_loss"], curves), to: root.appendingPathComponent("curves.csv"))
    }

    /// Writes the grid as `sweep.json` (what `--cell`, `--worker` and `--collect` read). A folder that
    /// already holds a different plan is refused: its cells are numbered by it.
    public func writePlan() throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let url = root.appendingPathComponent("sweep.json")
        if FileManager.default.fileExists(atPath: url.path), let existing = try? SweepGrid.read(url), existing != grid {
            throw TLLMError("already holds a different sweep (sweep.json); continue it with the same grid, or choose another --out", file: root.path)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(grid), to: root.appendingPathComponent("sweep.json"))
    }

    /// The runner of the sweep planned in `root` (its `sweep.json`).
    public static func planned(_ root: URL) throws -> SweepRunner {
        let url = root.appendingPathComponent("sweep.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TLLMError("no sweep.json: plan the sweep first with tllm sweep --plan … --out \(root.path)", file: root.path)
        }
        return SweepRunner(grid: try SweepGrid.read(url), root: root)
    }

    /// Runs every unfinished cell in this process. Returns false if interrupted (Ctrl-C).
    @discardableResult
    public func run() throws -> Bool {
        try writePlan()
        let cells = try grid.cells()
        func cost(_ c: SweepGrid.Cell) -> Double { Double(c.parameters + 150_000) * Double(c.tokens) }
        let totalCost = cells.map(cost).reduce(0, +)
        var doneCost = cells.filter { finishedRow($0) != nil }.map(cost).reduce(0, +)
        let start = Clock.now()
        var spentCost = 0.0
        try writeTables(cells)
        for (k, c) in cells.enumerated() {
            if finishedRow(c) != nil { continue }
            let elapsed = Clock.now() - start
            let eta = spentCost > 0 ? elapsed / spentCost * (totalCost - doneCost) : .nan
            progress.message("sweep: cell \(k + 1)/\(cells.count) \(c.id) — ETA for the sweep \(formatDuration(eta))")
            let summary = try train(c)
            try writeTables(cells)
            if summary.interrupted { return false }
            doneCost += cost(c)
            spentCost += cost(c)
        }
        return true
    }

    /// Trains one cell: resumes from its checkpoint when it has one, else starts it afresh.
    func train(_ c: SweepGrid.Cell) throws -> Trainer.Summary {
        let fm = FileManager.default
        var r = request(c)
        let dir = cellDirectory(c)
        if fm.fileExists(atPath: Checkpoint.directory(dir).path) || fm.fileExists(atPath: dir.appendingPathComponent("checkpoint.old").path) {
            r.resume = dir
        } else if fm.fileExists(atPath: dir.path) {
            try fm.removeItem(at: dir)  // started but never checkpointed: start over
        }
        if r.resume != nil { progress.message("sweep: \(c.id): resuming from its checkpoint") }
        let plan = try LanguageModelTraining.plan(r, log: { _ in })
        return try LanguageModelTraining.execute(plan, progress: progress)
    }
}

/// A minimal CSV reader (header + rows as dictionaries) for files tllm writes itself.
enum CSVTableLite {
    static func read(_ path: String) throws -> [[String: String]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        guard let h = lines.first else { return [] }
        let cols = h.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().map { l in
            let cells = l.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var d: [String: String] = [:]
            for (i, c) in cols.enumerated() where i < cells.count { d[c] = cells[i] }
            return d
        }
    }
}
