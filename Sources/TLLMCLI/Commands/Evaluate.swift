import Foundation
import TLLMCore
import TLLMEvaluation
import TLLMModels
import TLLMTokenizer
import TLLMTraining

enum EvalFewShotCommand: Command {
    static let spec = CommandSpec(
        name: "eval fewshot",
        summary: "few-shot evaluation (log-likelihood multiple choice, generation, perplexity) with shot sweeps",
        usage: "--model DIR --task evals/NAME[,evals/OTHER] [--shots 0,1,2,4,8,16] [--seeds 3] [--limit N] [--out DIR] [--json]",
        options: [
            OptionSpec(name: "--model", value: "DIR", help: "a run folder or model directory"),
            OptionSpec(name: "--task", value: "DIRS", help: "task folders (comma-separated)"),
            OptionSpec(name: "--shots", value: "LIST", help: "shot counts", defaultValue: "0,1,2,4,8,16"),
            OptionSpec(name: "--seeds", value: "N", help: "few-shot sampling seeds per shot count", defaultValue: "1"),
            OptionSpec(name: "--limit", value: "N", help: "only the first N test documents"),
            OptionSpec(name: "--batch", value: "B", help: "sequences scored together", defaultValue: "8"),
            OptionSpec(name: "--out", value: "DIR", help: "where summary.json, shots.csv and samples.jsonl go"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
            OptionSpec(name: "--json", value: nil, help: "print summary.json's object on stdout"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let dir = args.string("--model") else { throw CLIError("tllm eval fewshot: --model DIR is required") }
        guard let taskList = args.string("--task") else { throw CLIError("tllm eval fewshot: --task evals/NAME is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: dir))
        let tasks = try taskList.split(separator: ",").map { try EvalTask.load(URL(fileURLWithPath: String($0))) }
        let shots = try args.intList("--shots") ?? [0, 1, 2, 4, 8, 16]
        guard shots.allSatisfy({ $0 >= 0 }) else { throw CLIError("tllm eval fewshot: --shots must be ≥ 0") }
        let ev = FewShotEvaluator(model: bundle.model, tokenizer: bundle.tokenizer, modelName: URL(fileURLWithPath: dir).lastPathComponent)
        ev.scorer.batch = try args.int("--batch", default: 8)
        let progress = ProgressDisplay()
        ev.progress = { progress.update($0) }
        var results: [FewShotEvaluator.TaskResult] = []
        for t in tasks {
            results.append(try ev.evaluate(t, shots: shots, seeds: try args.int("--seeds", default: 1), limit: try args.int("--limit")))
        }
        progress.finish()
        let out = URL(fileURLWithPath: args.string("--out") ?? (URL(fileURLWithPath: dir).appendingPathComponent("eval").path))
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try ev.write(results, parameters: bundle.config.parameters, to: out)
        if args.has("--json") {
            FileHandle.standardOutput.write(try Data(contentsOf: out.appendingPathComponent("summary.json")))
            return
        }
        print(formatTable(["task", "shots", "used", "metric", "value ± stderr", "chance"], FewShotEvaluator.table(results)), terminator: "")
        Log.info("wrote \(out.path)/summary.json, shots.csv, samples.jsonl")
    }
}

enum EvalBuildTasksCommand: Command {
    static let spec = CommandSpec(
        name: "eval build-tasks",
        summary: "regenerate the tasks shipped in evals/ (deterministic)",
        usage: "[--out evals]",
        options: [OptionSpec(name: "--out", value: "DIR", help: "where to write the task folders", defaultValue: "evals")],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        let root = URL(fileURLWithPath: args.string("--out", default: "evals"))
        try TaskGenerators.buildAll(root: root)
        try ClassificationTaskGenerators.buildAll(root: root)
        Log.info("wrote \((TaskGenerators.names + ClassificationTaskGenerators.names).map { root.appendingPathComponent($0).path }.joined(separator: ", "))")
    }
}

enum PromptCommand: Command {
    static let spec = CommandSpec(
        name: "prompt",
        summary: "show the exact prompt a task builds, the model's completion and each choice's probability",
        usage: "--model DIR [--task evals/NAME --shots K] [--doc N] [QUERY]",
        options: [
            OptionSpec(name: "--model", value: "DIR", help: "a run folder or model directory"),
            OptionSpec(name: "--task", value: "DIR", help: "a task folder"),
            OptionSpec(name: "--shots", value: "K", help: "few-shot examples", defaultValue: "0"),
            OptionSpec(name: "--doc", value: "N", help: "use test document N of the task (default: the query, or the first)"),
            OptionSpec(name: "--seed", value: "S", help: "few-shot sampling seed", defaultValue: "0"),
            OptionSpec(name: "--max-tokens", value: "N", help: "completion length", defaultValue: "32"),
        ])

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        guard let dir = args.string("--model") else { throw CLIError("tllm prompt: --model DIR is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: dir))
        let scorer = Scorer(model: bundle.model, tokenizer: bundle.tokenizer)
        let query = args.positionals.joined(separator: " ").replacingOccurrences(of: "\\n", with: "\n")
        var prompt = query
        var choices: [String] = []
        var delimiter = " "
        var until = ["\n"]
        if let tdir = args.string("--task") {
            let task = try EvalTask.load(URL(fileURLWithPath: tdir))
            let builder = PromptBuilder(task: task, tokenizer: bundle.tokenizer, maxTokens: scorer.context)
            delimiter = task.spec.targetDelimiter
            until = task.spec.until
            var doc = task.test[0]
            if let n = try args.int("--doc") {
                guard n >= 0 && n < task.test.count else { throw CLIError("tllm prompt: --doc must be in 0..<\(task.test.count)") }
                doc = task.test[n]
            } else if !query.isEmpty {
                // The query stands in for the document's text.
                let ex = try builder.examples(for: doc, k: try args.int("--shots", default: 0), seed: try args.seed(default: 0))
                let ctx = try builder.context(doc, examples: ex)
                let docText = try task.render(doc).text
                prompt = String(ctx.dropLast(docText.count)) + query
                choices = try task.render(doc).choices
            }
            if args.isSet("--doc") || query.isEmpty {
                let (p, _) = try builder.prompt(doc, shots: try args.int("--shots", default: 0), seed: try args.seed(default: 0), continuationTokens: 8)
                prompt = p
                choices = try task.render(doc).choices
            }
        }
        guard !prompt.isEmpty else { throw CLIError("tllm prompt: give a QUERY or a --task") }
        print("── prompt ─────────────────────────────\n\(prompt)")
        let completion = scorer.generate(prompt: bundle.tokenizer.encode(prompt), until: until, maxTokens: try args.int("--max-tokens", default: 32))
        print("── completion (greedy) ────────────────\n\(completion)")
        if !choices.isEmpty {
            let reqs = choices.map { c -> Scorer.Request in
                let e = RequestEncoding.encodePair(bundle.tokenizer, context: prompt, continuation: delimiter + c)
                return Scorer.Request(context: e.context, continuation: e.continuation)
            }
            let lls = scorer.logLikelihoods(reqs).map(\.logLikelihood)
            let m = lls.max()!
            let z = lls.map { Foundation.exp($0 - m) }.reduce(0, +)
            print("── choices ────────────────────────────")
            for (c, ll) in zip(choices, lls).sorted(by: { $0.1 > $1.1 }) {
                print(String(format: "  %6.2f%%  log p = %8.3f  %@", 100 * Foundation.exp(ll - m) / z, ll, JSONValue.quote(c)))
            }
        }
    }
}
