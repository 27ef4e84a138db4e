import Foundation
import TLLMCore
import TLLMTokenizer

/// Builds few-shot prompts the way lm-evaluation-harness does:
///
///     description + (text(ex) + target_delimiter + target(ex)) joined by fewshot_delimiter
///                 + fewshot_delimiter + text(doc)
///
/// Examples for a document are drawn with a generator seeded by (seed, document id) — so the same
/// document gets the same examples whatever the order of evaluation — and never include the
/// document itself. Prompts too long for the model lose examples from the front.
public struct PromptBuilder {
    public let task: EvalTask
    public let tokenizer: Tokenizer
    /// Tokens the prompt plus continuation may take (the model's context).
    public let maxTokens: Int

    public init(task: EvalTask, tokenizer: Tokenizer, maxTokens: Int) {
        self.task = task; self.tokenizer = tokenizer; self.maxTokens = maxTokens
    }

    /// The generator for a document's examples.
    public static func rng(seed: UInt64, document id: Int) -> RandomGenerator {
        RandomGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(bitPattern: Int64(id)), stream: RandomGenerator.streamID("fewshot"))
    }

    /// `k` examples for `doc` (fewer if the pool is smaller), excluding `doc` itself.
    public func examples(for doc: TaskDocument, k: Int, seed: UInt64) throws -> [TaskDocument] {
        guard k > 0 else { return [] }
        let pool: [TaskDocument]
        if task.spec.fewshotField != nil {
            pool = try task.episodeExamples(doc)
        } else {
            let sameSplit = task.spec.fewshotSplit == task.spec.testSplit || task.fewshot.isEmpty
            let source = task.fewshot.isEmpty ? task.test : task.fewshot
            pool = sameSplit ? source.filter { $0.id != doc.id } : source
        }
        var r = Self.rng(seed: seed, document: doc.id)
        var idx = Array(pool.indices)
        // A partial Fisher–Yates: the first k of a seeded permutation.
        let take = min(k, idx.count)
        for i in 0..<take {
            let j = i + r.nextInt(below: idx.count - i)
            idx.swapAt(i, j)
        }
        return idx.prefix(take).map { pool[$0] }
    }

    /// The prompt text for `doc` with `examples`.
    public func context(_ doc: TaskDocument, examples: [TaskDocument]) throws -> String {
        let s = task.spec
        var parts: [String] = []
        for ex in examples {
            let r = try task.render(ex)
            parts.append(r.text + s.targetDelimiter + (r.target ?? ""))
        }
        let text = try task.render(doc).text
        return s.description + (parts.isEmpty ? "" : parts.joined(separator: s.fewshotDelimiter) + s.fewshotDelimiter) + text
    }

    /// The prompt for `doc` with `k` seeded shots, dropping examples from the front until the
    /// prompt plus `continuationTokens` fits; returns the prompt and the number of shots used.
    public func prompt(_ doc: TaskDocument, shots k: Int, seed: UInt64, continuationTokens: Int) throws -> (text: String, shots: Int) {
        var ex = try examples(for: doc, k: k, seed: seed)
        while true {
            let c = try context(doc, examples: ex)
            if ex.isEmpty || tokenizer.encode(c).count + continuationTokens <= maxTokens { return (c, ex.count) }
            ex.removeFirst()
        }
    }
}

/// lm-evaluation-harness's split of a (context, continuation) pair into tokens.
public enum RequestEncoding {
    /// Trailing spaces of the context move to the continuation; context and continuation are
    /// encoded together and split at the context's own token length. When a token spans the boundary
    /// (the joint encoding does not start with the context's tokens), the two are encoded separately.
    public static func encodePair(_ tok: Tokenizer, context: String, continuation: String) -> (context: [Int32], continuation: [Int32], spansBoundary: Bool) {
        var ctx = context, cont = continuation
        let trimmed = String(ctx.reversed().drop(while: { $0 == " " }).reversed())
        let n = ctx.count - trimmed.count
        if n > 0 {
            cont = String(ctx.suffix(n)) + cont
            ctx = trimmed
        }
        let whole = tok.encode(ctx + cont)
        let c = tok.encode(ctx)
        if whole.count >= c.count && Array(whole.prefix(c.count)) == c && whole.count > c.count {
            return (c, Array(whole[c.count...]), false)
        }
        return (c, tok.encode(cont), true)
    }
}
