import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Few-shot evaluation of a causal model on a task, for a list of shot counts and seeds.
///
/// Output files (in `out`): `summary.json` (task → shots → metric → {value, stderr, chance}),
/// `shots.csv` (one row per task, shots, metric), `samples.jsonl` (one line per document, shot
/// count and seed: the prompt, the choices with their log-likelihoods, prediction and gold).
public final class FewShotEvaluator {
    public let scorer: Scorer
    public let modelName: String
    public var progress: ((String) -> Void)?

    public init(model: any LanguageModel, tokenizer: Tokenizer, modelName: String) {
        scorer = Scorer(model: model, tokenizer: tokenizer)
        self.modelName = modelName
    }

    /// Results of one task.
    public struct TaskResult {
        public var task: String
        /// shots → metric → value.
        public var metrics: [Int: [String: MetricValue]]
        public var samples: [[String: Any]]
    }

    /// Per-document scores for one (shots, seed).
    struct DocScores {
        var values: [String: Double] = [:]
        var nats = 0.0, tokens = 0, bytes = 0
        var shotsUsed = 0
        var sample: [String: Any] = [:]
    }

    public func evaluate(_ task: EvalTask, shots: [Int], seeds: Int, limit: Int?) throws -> TaskResult {
        if let limit, limit < 1 { throw TLLMError("--limit must be ≥ 1, got \(limit)") }
        guard seeds >= 1 else { throw TLLMError("--seeds must be ≥ 1, got \(seeds)") }
        let docs = limit.map { Array(task.test.prefix($0)) } ?? task.test
        guard !docs.isEmpty else { throw TLLMError("the task has no test documents", file: task.directory.path) }
        let builder = PromptBuilder(task: task, tokenizer: scorer.tokenizer, maxTokens: scorer.context)
        let chance = task.chance()
        var metrics: [Int: [String: MetricValue]] = [:]
        var samples: [[String: Any]] = []
        // Rolling log-likelihood has no shots: evaluate it once.
        let shotCounts = task.spec.outputType == .loglikelihoodRolling ? [shots.first ?? 0] : shots
        let seedCount = task.spec.outputType == .loglikelihoodRolling ? 1 : max(1, seeds)
        for k in shotCounts {
            // perSeed[s][d]
            var perSeed: [[DocScores]] = []
            for s in 0..<seedCount {
                let label = "\(task.spec.name): \(k) shots, seed \(s + 1)/\(seedCount)"
                progress?(label)
                let scores = try run(task, docs: docs, builder: builder, shots: k, seed: UInt64(s)) { done, total in
                    self.progress?(label + "  " + Self.bar(done, total))
                }
                perSeed.append(scores)
                for (d, sc) in scores.enumerated() {
                    var line = sc.sample
                    line["task"] = task.spec.name; line["doc_id"] = docs[d].id; line["shots"] = k; line["seed"] = s
                    line["shots_used"] = sc.shotsUsed
                    samples.append(line)
                }
            }
            metrics[k] = aggregate(task, perSeed, chance: chance)
        }
        return TaskResult(task: task.spec.name, metrics: metrics, samples: samples)
    }

    /// `[=====>    ] 412/1000` for the progress line.
    static func bar(_ done: Int, _ total: Int, width: Int = 24) -> String {
        let f = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let n = Int(f * Double(width))
        return "[" + String(repeating: "=", count: n) + (n < width ? ">" + String(repeating: " ", count: width - n - 1) : "") + "] \(done)/\(total)"
    }

    /// Per-document scores of one (shots, seed) pass, by the task's output type.
    func run(_ task: EvalTask, docs: [TaskDocument], builder: PromptBuilder, shots k: Int, seed: UInt64,
             report: @escaping (Int, Int) -> Void = { _, _ in }) throws -> [DocScores] {
        switch task.spec.outputType {
        case .multipleChoice, .loglikelihood: return try scoreContinuations(task, docs: docs, builder: builder, shots: k, seed: seed, report: report)
        case .generateUntil: return try scorer.generator.decoder.whileDecoding { try generate(task, docs: docs, builder: builder, shots: k, seed: seed, report: report) }
        case .loglikelihoodRolling: return try rolling(task, docs: docs, report: report)
        }
    }

    /// Multiple choice (every choice scored after the prompt) and log-likelihood of one target.
    func scoreContinuations(_ task: EvalTask, docs: [TaskDocument], builder: PromptBuilder, shots k: Int, seed: UInt64,
                            report: @escaping (Int, Int) -> Void) throws -> [DocScores] {
        let s = task.spec, tok = scorer.tokenizer
        var out = [DocScores](repeating: DocScores(), count: docs.count)
        var requests: [Scorer.Request] = [], owner: [Int] = [], rendered: [EvalTask.Rendered] = []
        for (d, doc) in docs.enumerated() {
            let r = try task.render(doc)
            rendered.append(r)
            let conts = s.outputType == .multipleChoice ? r.choices : [r.target ?? ""]
            let longest = conts.map { tok.encode(s.targetDelimiter + $0).count }.max() ?? 0
            let (prompt, used) = try builder.prompt(doc, shots: k, seed: seed, continuationTokens: longest)
            out[d].shotsUsed = used
            out[d].sample["prompt"] = prompt
            for cont in conts {
                let enc = RequestEncoding.encodePair(tok, context: prompt, continuation: s.targetDelimiter + cont)
                requests.append(Scorer.Request(context: enc.context, continuation: enc.continuation))
                owner.append(d)
            }
        }
        let scores = scorer.logLikelihoods(requests) { report($0, requests.count) }
        var byDoc = [[Scorer.Score]](repeating: [], count: docs.count)
        for (i, d) in owner.enumerated() { byDoc[d].append(scores[i]) }
        for d in 0..<docs.count {
            if s.outputType == .multipleChoice { choose(&out[d], rendered[d], byDoc[d]) } else { target(&out[d], rendered[d], byDoc[d][0]) }
        }
        return out
    }

    /// `acc` (highest log-likelihood) and `acc_norm` (per byte) of one multiple-choice document.
    func choose(_ out: inout DocScores, _ r: EvalTask.Rendered, _ scores: [Scorer.Score]) {
        let lls = scores.map(\.logLikelihood)
        let pred = lls.indices.max { lls[$0] < lls[$1] }!
        let norm = lls.enumerated().map { $0.element / Double(max(1, r.choices[$0.offset].utf8.count)) }
        let predNorm = norm.indices.max { norm[$0] < norm[$1] }!
        out.values = ["acc": pred == r.gold ? 1 : 0, "acc_norm": predNorm == r.gold ? 1 : 0]
        out.sample["choices"] = r.choices
        out.sample["loglikelihoods"] = lls
        out.sample["prediction"] = pred
        out.sample["gold"] = r.gold ?? -1
    }

    /// Greedy-match accuracy and log-likelihood of one target.
    func target(_ out: inout DocScores, _ r: EvalTask.Rendered, _ score: Scorer.Score) {
        out.values = ["acc": score.greedy ? 1 : 0, "loglikelihood": score.logLikelihood]
        out.tokens = score.tokenLogLikelihoods.count
        out.sample["target"] = r.target ?? ""
        out.sample["loglikelihood"] = score.logLikelihood
        out.sample["greedy"] = score.greedy
    }

    /// Greedy generation until a stop string; exact match against the target.
    func generate(_ task: EvalTask, docs: [TaskDocument], builder: PromptBuilder, shots k: Int, seed: UInt64,
                  report: @escaping (Int, Int) -> Void) throws -> [DocScores] {
        let s = task.spec, tok = scorer.tokenizer
        var out = [DocScores](repeating: DocScores(), count: docs.count)
        for (d, doc) in docs.enumerated() {
            let r = try task.render(doc)
            let (prompt, used) = try builder.prompt(doc, shots: k, seed: seed, continuationTokens: s.maxGenerationTokens)
            let gen = scorer.generate(prompt: tok.encode(prompt), until: s.until, maxTokens: s.maxGenerationTokens)
            var a = gen.trimmingCharacters(in: .whitespacesAndNewlines), b = (r.target ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if s.ignoreCase { a = a.lowercased(); b = b.lowercased() }
            out[d].values = ["exact_match": a == b ? 1 : 0]
            out[d].shotsUsed = used
            out[d].sample = ["prompt": prompt, "prediction": gen, "gold": r.target ?? ""]
            report(d + 1, docs.count)
        }
        return out
    }

    /// Rolling log-likelihood over disjoint windows of the context (each token predicted once);
    /// with `induction`, the loss on the first and second copy of a repeated run.
    func rolling(_ task: EvalTask, docs: [TaskDocument], report: @escaping (Int, Int) -> Void) throws -> [DocScores] {
        let tok = scorer.tokenizer
        let eot = tok.specialID("<|endoftext|>") ?? 0
        var out = [DocScores](repeating: DocScores(), count: docs.count)
        for (d, doc) in docs.enumerated() {
            let r = try task.render(doc)
            let ids = tok.encode(r.text)
            let requests = stride(from: 0, to: ids.count, by: scorer.context).map { i in
                Scorer.Request(context: i == 0 ? [eot] : [ids[i - 1]], continuation: Array(ids[i..<min(ids.count, i + scorer.context)]))
            }
            let per = scorer.logLikelihoods(requests) { report($0, requests.count) }.flatMap(\.tokenLogLikelihoods)
            out[d].nats = -per.reduce(0, +)
            out[d].tokens = ids.count
            out[d].bytes = r.text.utf8.count
            out[d].values = ["nats": out[d].nats]
            if task.spec.induction, let run = Template.lookup(doc.fields, "run")?.string {
                let half = tok.encode(run).count
                let first = per.prefix(half).dropFirst(), second = per.dropFirst(half)
                let l1 = -first.reduce(0, +) / Double(max(1, first.count)), l2 = -second.reduce(0, +) / Double(max(1, second.count))
                out[d].values["loss_first_copy"] = l1
                out[d].values["loss_second_copy"] = l2
                out[d].values["induction_gain"] = l1 - l2
            }
            out[d].sample = ["tokens": ids.count, "nats": out[d].nats]
        }
        return out
    }

    func aggregate(_ task: EvalTask, _ perSeed: [[DocScores]], chance: Double?) -> [String: MetricValue] {
        let docs = perSeed[0].count
        func perDoc(_ key: String) -> [Double] {
            (0..<docs).map { d in perSeed.map { $0[d].values[key] ?? .nan }.reduce(0, +) / Double(perSeed.count) }
        }
        var m: [String: MetricValue] = [:]
        let lnV = Foundation.log(Double(scorer.model.vocabularySize))
        let used = (0..<docs).map { d in perSeed.map { Double($0[d].shotsUsed) }.reduce(0, +) / Double(perSeed.count) }
        m["shots_used"] = Metrics.mean(used)
        switch task.spec.outputType {
        case .multipleChoice:
            var a = Metrics.mean(perDoc("acc")); a.chance = chance; m["acc"] = a
            var n = Metrics.mean(perDoc("acc_norm")); n.chance = chance; m["acc_norm"] = n
        case .generateUntil:
            var e = Metrics.mean(perDoc("exact_match")); e.chance = 0; m["exact_match"] = e
        case .loglikelihood:
            // Chance = a uniform model over the vocabulary: its greedy continuation is right with
            // probability V^-tokens (≈ 0), and each token costs ln V.
            var a = Metrics.mean(perDoc("acc"))
            a.chance = 0; m["acc"] = a
            let ll = perDoc("loglikelihood")
            var p = Metrics.bootstrap(ll) { xs in Foundation.exp(-xs.reduce(0, +) / Double(max(1, xs.count))) }
            let meanTokens = (0..<docs).map { Double(perSeed[0][$0].tokens) }.reduce(0, +) / Double(max(1, docs))
            p.chance = Foundation.exp(meanTokens * lnV)
            m["perplexity"] = p
        case .loglikelihoodRolling:
            let items = (0..<docs).map { d in (perSeed[0][d].nats, perSeed[0][d].tokens, perSeed[0][d].bytes) }
            var p = Metrics.bootstrap(items) { xs in
                Foundation.exp(xs.map(\.0).reduce(0, +) / Double(max(1, xs.map(\.1).reduce(0, +))))
            }
            p.chance = Foundation.exp(lnV); m["perplexity"] = p
            var b = Metrics.bootstrap(items) { xs in
                xs.map(\.0).reduce(0, +) / Foundation.log(2) / Double(max(1, xs.map(\.2).reduce(0, +)))
            }
            let tokens = items.map(\.1).reduce(0, +), bytes = items.map(\.2).reduce(0, +)
            b.chance = Double(tokens) * lnV / Foundation.log(2) / Double(max(1, bytes)); m["bits_per_byte"] = b
            if task.spec.induction {
                // A model without induction: both copies cost ln V, and the gain is 0.
                for (k, c) in [("loss_first_copy", lnV), ("loss_second_copy", lnV), ("induction_gain", 0)] {
                    var v = Metrics.mean(perDoc(k)); v.chance = c; m[k] = v
                }
            }
        }
        return m
    }

    // MARK: - Output

    /// Writes summary.json, shots.csv and samples.jsonl (atomically).
    public func write(_ results: [TaskResult], parameters: Int, to dir: URL) throws {
        var summary: [String: Any] = [:]
        var csv = "task,model,parameters,shots,metric,value,stderr,chance\n"
        for r in results {
            var byShots: [String: Any] = [:]
            for (k, ms) in r.metrics.sorted(by: { $0.key < $1.key }) {
                var mm: [String: Any] = [:]
                for (name, v) in ms.sorted(by: { $0.key < $1.key }) {
                    var o: [String: Any] = ["value": v.value, "stderr": v.stderr]
                    if let c = v.chance { o["chance"] = c }
                    mm[name] = o
                    csv += "\(r.task),\(modelName),\(parameters),\(k),\(name),\(String(format: "%.6g", v.value)),\(String(format: "%.6g", v.stderr)),\(v.chance.map { String(format: "%.6g", $0) } ?? "")\n"
                }
                byShots[String(k)] = mm
            }
            summary[r.task] = byShots
        }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]),
                             to: dir.appendingPathComponent("summary.json"))
        try AtomicFile.write(csv, to: dir.appendingPathComponent("shots.csv"))
        var lines = ""
        for r in results {
            for s in r.samples {
                let data = try JSONSerialization.data(withJSONObject: s, options: [.sortedKeys])
                lines += String(decoding: data, as: UTF8.self) + "\n"
            }
        }
        try AtomicFile.write(lines, to: dir.appendingPathComponent("samples.jsonl"))
    }

    /// The on-screen table.
    public static func table(_ results: [TaskResult]) -> [[String]] {
        var rows: [[String]] = []
        for r in results {
            for (k, ms) in r.metrics.sorted(by: { $0.key < $1.key }) {
                for (name, v) in ms.sorted(by: { $0.key < $1.key }) where name != "shots_used" {
                    rows.append([r.task, "\(k)", String(format: "%.2f", ms["shots_used"]?.value ?? 0), name,
                                 String(format: "%.4f ± %.4f", v.value, v.stderr), v.chance.map { String(format: "%.4f", $0) } ?? ""])
                }
            }
        }
        return rows
    }
}
