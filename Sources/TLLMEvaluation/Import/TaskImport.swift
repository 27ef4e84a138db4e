import Foundation
import TLLMCore

/// Turns outside data into tllm task folders: BIG-bench multiple-choice tasks, and LAMBADA-style
/// last-word prediction over any text.
public enum TaskImport {
    /// What an import wrote.
    public struct Report: Sendable {
        public var directory: URL
        public var test: Int
        public var fewshot: Int
        public var notes: [String]
    }

    // MARK: - BIG-bench

    /// Converts a BIG-bench JSON task (`{"examples": [{"input", "target_scores"}]}`) into a
    /// multiple-choice task: the choices are the target_scores' keys, the gold one the highest
    /// score. Prompts follow BIG-bench's JSON-task defaults: the task prefix as the description,
    /// then `Q: <input>` / `A: <choice>` per example. The first `pool` examples of a seeded
    /// shuffle become the few-shot split, the rest the test split.
    public static func bigBench(_ url: URL, out: URL, pool: Int = 25, seed: UInt64 = 1) throws -> Report {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else { throw TLLMError("cannot read", file: path) }
        let json = try JSONParser.parse([UInt8](data), path: path)
        guard let examples = json["examples"]?.array, !examples.isEmpty else { throw TLLMError("no \"examples\" list", file: path) }
        let name = json["name"]?.string ?? url.deletingLastPathComponent().lastPathComponent
        var docs: [[String: Any]] = [], notes: [String] = []
        var skipped = 0, ties = 0
        for (i, e) in examples.enumerated() {
            guard let input = e["input"]?.string, let scores = e["target_scores"]?.members, scores.count >= 2 else { skipped += 1; continue }
            let choices = scores.map(\.0)
            let values = try scores.map { k, v -> Double in
                guard let d = v.number else { throw TLLMError("example \(i): target_scores[\(JSONValue.quote(k))] is not a number", file: path) }
                return d
            }
            let best = values.max()!
            if values.filter({ $0 == best }).count > 1 { ties += 1 }
            docs.append(["id": i, "input": input, "choices": choices, "gold": values.firstIndex(of: best)!])
        }
        guard docs.count > pool else { throw TLLMError("\(docs.count) usable examples: fewer than the few-shot pool of \(pool) plus one", file: path) }
        if skipped > 0 { notes.append("\(skipped) examples without input or at least two target_scores were skipped") }
        if ties > 0 { notes.append("\(ties) examples have several top-scoring choices; the first is gold") }
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("bigbench:\(name)"))
        rng.shuffle(&docs)
        var spec: [String: Any] = [
            "task": out.lastPathComponent, "output_type": "multiple_choice", "doc_to_text": "Q: {{input}}\nA:", "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{gold}}", "target_delimiter": " ", "fewshot_delimiter": "\n\n",
            "source": "BIG-bench task \(name), converted by `tllm eval import-bigbench` (Sources/TLLMEvaluation/Import/TaskImport.swift)",
        ]
        if let prefix = json["task_prefix"]?.string, !prefix.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            spec["description"] = prefix.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n"
        }
        let readme = """
        # \(out.lastPathComponent)

        BIG-bench task `\(name)`: \(json["description"]?.string ?? "").

        \(docs.count - pool) test documents and a few-shot pool of \(pool) (a seeded shuffle of the task's \(examples.count) examples).
        Choices are the keys of `target_scores`; the gold choice is the highest-scoring one.\(notes.isEmpty ? "" : " " + notes.joined(separator: "; ") + ".")

        Licence: BIG-bench is released under the Apache License 2.0 (https://github.com/google/BIG-bench); this folder is a
        derivative of its task file. Canary (do not train on this data): \(json["canary"]?.string ?? "n/a")

        Rebuilt with: `tllm eval import-bigbench <bigbench>/benchmark_tasks/\(name)/task.json --out evals/\(out.lastPathComponent)`
        (the `bigbench==1.0.0` sdist from PyPI holds the task files).
        """
        try write(out, spec: spec, splits: ["train": Array(docs.prefix(pool)), "test": Array(docs.dropFirst(pool))], readme: readme)
        return Report(directory: out, test: docs.count - pool, fewshot: pool, notes: notes)
    }

    // MARK: - Last word (LAMBADA format)

    /// LAMBADA-style documents from any text: passages of about `words` words ending at a
    /// sentence end; the model reads the passage without its last word and must produce that word
    /// (`loglikelihood`: greedy accuracy and perplexity of the word). `count` passages, spread
    /// evenly over the text; `pool` more become the few-shot split.
    public static func lastWord(_ text: String, source: String, out: URL, count: Int = 200, words: Int = 60, pool: Int = 10) throws -> Report {
        let passages = lastWordPassages(text, words: words)
        guard passages.count >= count + pool else {
            throw TLLMError("the text has \(passages.count) passages of about \(words) words; \(count + pool) are needed", file: source)
        }
        let step = Double(passages.count) / Double(count + pool)
        let picked = (0..<(count + pool)).map { passages[Int(Double($0) * step)] }
        let docs: [[String: Any]] = picked.enumerated().map { i, p in ["id": i, "context": p.context, "target": p.word] }
        let spec: [String: Any] = [
            "task": out.lastPathComponent, "output_type": "loglikelihood", "doc_to_text": "{{context}}", "doc_to_target": "{{target}}",
            "target_delimiter": " ", "fewshot_delimiter": "\n\n",
            "source": "last-word passages of \(URL(fileURLWithPath: source).lastPathComponent), built by `tllm eval import-lastword`",
        ]
        let readme = """
        # \(out.lastPathComponent)

        LAMBADA-format last-word prediction on `\(URL(fileURLWithPath: source).lastPathComponent)`: \(count) passages of about \(words) words
        (evenly spread over the text) and \(pool) for few-shot examples. The model reads a passage without its final word;
        `acc` is whether greedy decoding produces exactly that word, `perplexity` the word's per-token perplexity.

        Rebuilt with: `tllm eval import-lastword \(source) --out evals/\(out.lastPathComponent) --count \(count) --words \(words)`
        """
        try write(out, spec: spec, splits: ["test": Array(docs.prefix(count)), "train": Array(docs.dropFirst(count))], readme: readme)
        return Report(directory: out, test: count, fewshot: pool, notes: [])
    }

    /// Passages that end with a sentence's last word (a run of letters before `.`, `!` or `?`).
    static func lastWordPassages(_ text: String, words n: Int) -> [(context: String, word: String)] {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        var out: [(String, String)] = []
        var i = n
        while i < tokens.count {
            let t = tokens[i]
            if let last = t.last, ".!?".contains(last) {
                let word = String(t.dropLast()).trimmingCharacters(in: .punctuationCharacters)
                if word.count >= 3, word.allSatisfy(\.isLetter) {
                    let context = tokens[(i - n)..<i].joined(separator: " ")
                    out.append((context, word))
                    i += n
                    continue
                }
            }
            i += 1
        }
        return out
    }

    static func write(_ dir: URL, spec: [String: Any], splits: [String: [[String: Any]]], readme: String) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys]), to: dir.appendingPathComponent("task.json"))
        for (split, docs) in splits {
            let lines = try docs.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
            try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: dir.appendingPathComponent("\(split).jsonl"))
        }
        try AtomicFile.write(readme + "\n", to: dir.appendingPathComponent("README.md"))
    }
}
