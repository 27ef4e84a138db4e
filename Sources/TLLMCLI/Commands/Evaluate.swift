import Foundation
import TLLMCore
import TLLMEvaluation
import TLLMModels
import TLLMTokenizer
import TLLMData

struct EvalFewShotCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "eval fewshot",
        summary: "few-shot evaluation (log-likelihood multiple choice, generation, perplexity) with shot sweeps",
        usage: "--model DIR --task evals/NAME[,evals/OTHER] [--shots 0,1,2,4,8,16] [--seeds 3] [--limit N] [--out DIR] [--json]")

    @Option("--model", "DIR", help: "a run folder or model directory") var model: String?
    @Option("--task", "DIRS", help: "task folders (comma-separated)") var task: List<String>?
    @Option("--shots", "LIST", help: "shot counts", .nonNegative) var shots = List([0, 1, 2, 4, 8, 16])
    @Option("--seeds", "N", help: "few-shot sampling seeds per shot count", .positive) var seeds = 1
    @Option("--limit", "N", help: "only the first N test documents", .positive) var limit: Int?
    @Option("--batch", "B", help: "sequences scored together", .positive) var batch = 8
    @Option("--out", "DIR", help: "where summary.json, shots.csv and samples.jsonl go", defaultDescription: "MODEL/eval; NAME.eval beside a model file") var out: String?
    @Flag("--json", help: "print summary.json's object on stdout") var json: Bool
    let runtime = RuntimeOptions()

    func run() throws {
        guard let model else { throw CLIError("tllm eval fewshot: --model DIR is required") }
        guard let task else { throw CLIError("tllm eval fewshot: --task evals/NAME is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: model))
        let tasks = try task.values.map { try EvalTask.load(URL(fileURLWithPath: $0)) }
        // The output folder is made before the (long) evaluation, so a bad one fails at once.
        let dir = URL(fileURLWithPath: out ?? Self.defaultOutput(model: model))
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw TLLMError("cannot create the output folder (--out DIR)", file: dir.path)
        }
        let ev = FewShotEvaluator(model: bundle.model, tokenizer: bundle.tokenizer, modelName: URL(fileURLWithPath: model).lastPathComponent)
        ev.scorer.batch = batch
        let progress = ProgressDisplay()
        ev.progress = { progress.update($0) }
        let results = try tasks.map { try ev.evaluate($0, shots: shots.values, seeds: seeds, limit: limit) }
        progress.finish()
        try ev.write(results, parameters: bundle.config.parameters, to: dir)
        if json {
            FileHandle.standardOutput.write(try Data(contentsOf: dir.appendingPathComponent("summary.json")))
            return
        }
        print(formatTable(["task", "shots", "used", "metric", "value ± stderr", "chance"], FewShotEvaluator.table(results)), terminator: "")
        Log.info("wrote \(dir.path)/summary.json, shots.csv, samples.jsonl")
    }
}

extension EvalFewShotCommand {
    /// `MODEL/eval` for a run folder or model directory; `NAME.eval` beside a model file (GGUF).
    static func defaultOutput(model: String) -> String {
        var isDir: ObjCBool = false
        let url = URL(fileURLWithPath: model)
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDir), !isDir.boolValue {
            return url.deletingPathExtension().appendingPathExtension("eval").path
        }
        return url.appendingPathComponent("eval").path
    }
}

struct EvalBuildTasksCommand: ParsableCommand {
    static let info = CommandInfo(name: "eval build-tasks", summary: "regenerate the tasks shipped in evals/ (deterministic)", usage: "[--out evals]")

    @Option("--out", "DIR", help: "where to write the task folders") var out = "evals"

    func run() throws {
        let root = URL(fileURLWithPath: out)
        try TaskGenerators.buildAll(root: root)
        try ClassificationTaskGenerators.buildAll(root: root)
        Log.info("wrote \((TaskGenerators.names + ClassificationTaskGenerators.names).map { root.appendingPathComponent($0).path }.joined(separator: ", "))")
    }
}

struct PromptCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "prompt",
        summary: "show the exact prompt a task builds, the model's completion and each choice's probability",
        usage: "--model DIR [--task evals/NAME --shots K] [--doc N] [QUERY]")

    @Option("--model", "DIR", help: "a run folder or model directory") var model: String?
    @Option("--task", "DIR", help: "a task folder") var task: String?
    @Option("--shots", "K", help: "few-shot examples", .nonNegative) var shots = 0
    @Option("--doc", "N", help: "use test document N of the task (default: the query, or the first)", .nonNegative) var doc: Int?
    @Option("--seed", "S", help: "few-shot sampling seed") var seed: UInt64 = 0
    @Option("--max-tokens", "N", help: "completion length", .positive) var maxTokens = 32
    @Positionals("QUERY") var query: [String]
    let runtime = RuntimeOptions()

    /// What to show: the prompt, the choices to score, how they attach, where generation stops.
    struct Plan { var prompt: String; var choices: [String] = []; var delimiter = " "; var until = ["\n"] }

    func run() throws {
        guard let model else { throw CLIError("tllm prompt: --model DIR is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: model))
        let scorer = Scorer(model: bundle.model, tokenizer: bundle.tokenizer)
        let p = try plan(bundle.tokenizer, context: scorer.context)
        guard !p.prompt.isEmpty else { throw CLIError("tllm prompt: give a QUERY or a --task") }
        print("── prompt ─────────────────────────────\n\(p.prompt)")
        let completion = scorer.generate(prompt: bundle.tokenizer.encode(p.prompt), until: p.until, maxTokens: maxTokens)
        print("── completion (greedy) ────────────────\n\(completion)")
        guard !p.choices.isEmpty else { return }
        let reqs = p.choices.map { c -> Scorer.Request in
            let e = RequestEncoding.encodePair(bundle.tokenizer, context: p.prompt, continuation: p.delimiter + c)
            return Scorer.Request(context: e.context, continuation: e.continuation)
        }
        let lls = scorer.logLikelihoods(reqs).map(\.logLikelihood)
        let m = lls.max()!
        let z = lls.map { Foundation.exp($0 - m) }.reduce(0, +)
        print("── choices ────────────────────────────")
        for (c, ll) in zip(p.choices, lls).sorted(by: { $0.1 > $1.1 }) {
            print(String(format: "  %6.2f%%  log p = %8.3f  %@", 100 * Foundation.exp(ll - m) / z, ll, JSONValue.quote(c)))
        }
    }

    func plan(_ tokenizer: Tokenizer, context: Int) throws -> Plan {
        let text = query.joined(separator: " ").replacingOccurrences(of: "\\n", with: "\n")
        var p = Plan(prompt: text)
        guard let task else { return p }
        let t = try EvalTask.load(URL(fileURLWithPath: task))
        let builder = PromptBuilder(task: t, tokenizer: tokenizer, maxTokens: context)
        p.delimiter = t.spec.targetDelimiter
        p.until = t.spec.until
        var document = t.test[0]
        if let doc {
            guard doc < t.test.count else { throw CLIError("tllm prompt: --doc must be in 0..<\(t.test.count)") }
            document = t.test[doc]
        }
        p.choices = try t.render(document).choices
        if doc == nil && !text.isEmpty {
            // The query stands in for the document's text.
            let ctx = try builder.context(document, examples: try builder.examples(for: document, k: shots, seed: seed))
            p.prompt = String(ctx.dropLast(try t.render(document).text.count)) + text
        } else {
            p.prompt = try builder.prompt(document, shots: shots, seed: seed, continuationTokens: 8).text
        }
        return p
    }
}

struct EvalImportBigBenchCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "eval import-bigbench",
        summary: "convert a BIG-bench multiple-choice task.json into a tllm task folder",
        usage: "TASK.json --out evals/NAME [--pool 25] [--seed 1]")

    @Option("--out", "DIR", help: "the task folder to write (must not exist)") var out: String?
    @Option("--pool", "N", help: "examples kept aside as few-shot examples", .positive) var pool = 25
    @Option("--seed", "S", help: "seed of the shuffle that picks the pool") var seed: UInt64 = 1
    @Positionals("TASK.json") var files: [String]

    func run() throws {
        guard files.count == 1 else { throw CLIError("tllm eval import-bigbench: give one task.json") }
        guard let out else { throw CLIError("tllm eval import-bigbench: --out evals/NAME is required") }
        try refuseExisting(out)
        let r = try TaskImport.bigBench(URL(fileURLWithPath: files[0]), out: URL(fileURLWithPath: out), pool: pool, seed: seed)
        Log.info("wrote \(out): \(r.test) test documents, \(r.fewshot) few-shot examples\(r.notes.isEmpty ? "" : " (" + r.notes.joined(separator: "; ") + ")")")
    }
}

struct EvalImportLastWordCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "eval import-lastword",
        summary: "a LAMBADA-style last-word task from any text file",
        usage: "FILE --out evals/NAME [--count 200] [--words 60]")

    @Option("--out", "DIR", help: "the task folder to write (must not exist)") var out: String?
    @Option("--count", "N", help: "test passages", .positive) var count = 200
    @Option("--words", "N", help: "words of context per passage", .positive) var words = 60
    @Positionals("FILE") var files: [String]

    func run() throws {
        guard files.count == 1 else { throw CLIError("tllm eval import-lastword: give one text file") }
        guard let out else { throw CLIError("tllm eval import-lastword: --out evals/NAME is required") }
        try refuseExisting(out)
        let text = String(decoding: try TextFiles.readUTF8(files[0]), as: UTF8.self)
        let r = try TaskImport.lastWord(text, source: files[0], out: URL(fileURLWithPath: out), count: count, words: words)
        Log.info("wrote \(out): \(r.test) test passages, \(r.fewshot) few-shot passages")
    }
}

/// tllm writes task folders only where nothing is.
func refuseExisting(_ path: String) throws {
    if FileManager.default.fileExists(atPath: path) { throw TLLMError("already exists; choose another --out (tllm does not overwrite folders)", file: path) }
}
