import Foundation
import TLLMCore
import TLLMData
import TLLMDictionary

extension SparseCodingMethod: ArgumentChoice {}

/// Where the label of a CSV row is.
enum LabelChoice: String, ArgumentChoice { case first, none }

/// `--data` and `--label`, shared by the dictionary commands.
struct VectorDataOptions: OptionGroup {
    @Option("--data", "digits|FILE.csv", help: "the bundled digits (pixels ÷ 16) or a numeric CSV, one sample per row") var data = "digits"
    @Option("--label", "first|none", help: "where a CSV keeps its integer label") var label = LabelChoice.first

    func load() throws -> LabeledVectors {
        if data == "digits" { return try LabeledVectors.digits() }
        return try LabeledVectors.readCSV(data, label: label == .first ? .first : .none)
    }
}

extension LabeledVectors {
    var matrix: Matrix { Matrix(rows: count, cols: features, values: values) }
}

/// Mean non-zeros per row of a code matrix.
func meanNonzeros(_ U: Matrix) -> Double {
    Double(U.values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }) / Double(max(1, U.rows))
}

struct DictLearnCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "dict learn",
        summary: "learn a sparse-coding dictionary (batch or online) on digits or a numeric CSV",
        usage: "[--data digits|FILE.csv] [--atoms 64] [--alpha 1] [--method cd|fista|omp] [--online [--batch 256]] [--iterations N] [--seed S] [-o DICT.safetensors] [--json]",
        discussion: "Minimises the mean over samples of ½‖x − uD‖² + α‖u‖₁ with ‖d_k‖ ≤ 1. Batch: up to 1000 iterations,\nstopping when the objective falls by less than 1e-8 (relative). Online (Mairal et al.): mini-batches,\nup to 1000 passes, stopping after 10 batches without improvement. The objective printed is that of\nthe training data coded with the learned dictionary.")

    let input = VectorDataOptions()
    @Option("--atoms", "K", help: "dictionary size", .positive) var atoms = 64
    @Option("--alpha", "A", help: "sparsity penalty α", .nonNegative) var alpha: Float = 1
    @Option("--method", "M", help: "sparse coder while fitting") var method = SparseCodingMethod.cd
    @Flag("--online", help: "mini-batch dictionary learning instead of batch") var online: Bool
    @Option("--batch", "B", help: "mini-batch size (with --online)", .positive) var batch = 256
    @Option("--iterations", "N", help: "batch: iterations; online: passes over the data", .positive, defaultDescription: "1000") var iterations: Int?
    @Option("--tolerance", "T", help: "stopping tolerance", .nonNegative, defaultDescription: "1e-8 batch, 1e-3 online") var tolerance: Float?
    @Option("--seed", "S", help: "shuffling and atom re-sampling") var seed: UInt64 = 0
    @Option("-o", "OUT", aliases: ["--output"], help: "write the dictionary here (safetensors; must not exist)") var out: String?
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        if let out, FileManager.default.fileExists(atPath: out) {
            throw TLLMError("already exists; choose another -o (tllm does not overwrite files)", file: out)
        }
        let data = try input.load()
        let X = data.matrix
        let learner = DictionaryLearner(atoms: atoms, alpha: alpha, method: method, batchSize: online ? batch : nil,
                                        maxIterations: iterations, tolerance: tolerance, seed: seed)
        let t0 = Clock.now()
        let fitted = learner.fit(X)
        let seconds = Clock.now() - t0
        let codes = fitted.transform(X)
        let objective = dictionaryObjective(X, fitted.components, codes, alpha: alpha)
        let nonzeros = meanNonzeros(codes)
        if let out { try fitted.save(to: URL(fileURLWithPath: out)) }
        if output.json {
            printJSON(["objective": objective, "seconds": seconds, "nonzeros": nonzeros, "atoms": atoms, "alpha": Double(alpha),
                       "samples": X.rows, "features": X.cols, "method": method.rawValue, "online": online,
                       "iterations": fitted.iterations, "history": fitted.history, "output": out ?? NSNull()])
        } else {
            Log.info(String(format: "%@ dictionary: %d atoms × %d features from %d samples, %d %@ in %.2f s; objective %.4f per sample, %.1f non-zeros per code%@",
                            online ? "online" : "batch", atoms, X.cols, X.rows, fitted.iterations, online ? "batches" : "iterations",
                            seconds, objective, nonzeros, out.map { " → \($0)" } ?? ""))
        }
    }
}

struct DictEncodeCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "dict encode",
        summary: "sparse codes of digits or a numeric CSV against a learned dictionary",
        usage: "--dictionary DICT.safetensors [--data digits|FILE.csv] [--method cd|fista|omp] [--alpha A] [--nonzeros N] [-o CODES.csv] [--json]")

    @Option("--dictionary", "FILE", help: "written by tllm dict learn") var dictionary: String?
    let input = VectorDataOptions()
    @Option("--method", "M", help: "sparse coder", defaultDescription: "the dictionary's") var method: SparseCodingMethod?
    @Option("--alpha", "A", help: "sparsity penalty", .nonNegative, defaultDescription: "the dictionary's") var alpha: Float?
    @Option("--nonzeros", "N", help: "OMP's non-zeros per code", .positive, defaultDescription: "features / 10") var nonzeros: Int?
    @Option("-o", "OUT", aliases: ["--output"], help: "codes as CSV, the label first when the data has one (must not exist)") var out: String?
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        guard let dictionary else { throw CLIError("tllm dict encode: --dictionary FILE is required") }
        if let out, FileManager.default.fileExists(atPath: out) {
            throw TLLMError("already exists; choose another -o (tllm does not overwrite files)", file: out)
        }
        let fitted = try FittedDictionary.load(URL(fileURLWithPath: dictionary))
        let data = try input.load()
        guard data.features == fitted.components.cols else {
            throw TLLMError("the data has \(data.features) features, the dictionary \(fitted.components.cols)", file: input.data)
        }
        let coder = SparseCoder(method: method ?? fitted.method, alpha: alpha ?? fitted.alpha, nonzeros: nonzeros, positive: fitted.positiveCodes)
        let X = data.matrix
        let t0 = Clock.now()
        let U = fitted.transform(X, coder: coder)
        let seconds = Clock.now() - t0
        let objective = dictionaryObjective(X, fitted.components, U, alpha: coder.alpha)
        if let out { try AtomicFile.write(Self.csv(U, labels: data.labels), to: URL(fileURLWithPath: out)) }
        if output.json {
            printJSON(["objective": objective, "seconds": seconds, "nonzeros": meanNonzeros(U), "samples": X.rows,
                       "atoms": U.cols, "method": coder.method.rawValue, "alpha": Double(coder.alpha), "output": out ?? NSNull()])
        } else {
            Log.info(String(format: "coded %d samples with %d atoms (%@) in %.2f s: objective %.4f per sample, %.1f non-zeros per code%@",
                            X.rows, U.cols, coder.method.rawValue, seconds, objective, meanNonzeros(U), out.map { " → \($0)" } ?? ""))
        }
    }

    static func csv(_ U: Matrix, labels: [Int]) -> String {
        var s = ""
        for r in 0..<U.rows {
            if !labels.isEmpty { s += "\(labels[r])," }
            s += U.row(r).map { $0 == 0 ? "0" : "\($0)" }.joined(separator: ",") + "\n"
        }
        return s
    }
}
