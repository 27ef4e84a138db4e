import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Scores requests against any causal ``LanguageModel``: log-likelihoods of continuations
/// (batched by length) and greedy generation with the model's KV cache.
public final class Scorer {
    public let model: any LanguageModel
    public let tokenizer: Tokenizer
    public var batch = 8
    public let generator: Generator

    public init(model: any LanguageModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
        generator = Generator(model: model)
    }

    public var context: Int { model.contextLength }

    /// One log-likelihood request.
    public struct Request {
        public var context: [Int32]
        public var continuation: [Int32]
        public init(context: [Int32], continuation: [Int32]) { self.context = context; self.continuation = continuation }
    }

    public struct Score {
        /// Σ log p(continuation token | prefix), natural log.
        public var logLikelihood: Double
        /// Every continuation token was the argmax.
        public var greedy: Bool
        /// Log-likelihood of each continuation token.
        public var tokenLogLikelihoods: [Double]
    }

    /// Scores all requests; long ones are left-truncated to the context (as lm-eval does).
    /// Requests are sorted by length and run `batch` at a time.
    public func logLikelihoods(_ requests: [Request], progress: ((Int) -> Void)? = nil) -> [Score] {
        let T = context
        var inputs: [[Int32]] = [], starts: [Int] = []
        // An empty context is replaced by the end-of-text token (as lm-eval does), so that the
        // first continuation token is scored too.
        let eot = tokenizer.specialID("<|endoftext|>") ?? 0
        for r in requests {
            var all = (r.context.isEmpty ? [eot] : r.context) + r.continuation
            if all.count > T + 1 { all = Array(all.suffix(T + 1)) }
            let contStart = all.count - r.continuation.count  // index in `all` of the first continuation token
            inputs.append(all)
            starts.append(max(1, contStart))
        }
        // Batches of similar length (little padding); or, for models that keep a shared prefix
        // cached between sequences, sequences in token order (those with one context together).
        let order = model.reusesSharedPrefixes ? inputs.indices.sorted { inputs[$0].lexicographicallyPrecedes(inputs[$1]) }
            : inputs.indices.sorted { inputs[$0].count > inputs[$1].count }
        var out = [Score?](repeating: nil, count: requests.count)
        var done = 0
        Autograd.withNoGrad {
            var k = 0
            while k < order.count {
                let group = Array(order[k..<min(order.count, k + batch)])
                k += group.count
                let L = max(1, group.map { inputs[$0].count - 1 }.max()!)
                var x = [Int32](repeating: 0, count: group.count * L)
                for (b, i) in group.enumerated() {
                    let seq = inputs[i].dropLast()
                    for (t, tok) in seq.enumerated() { x[b * L + t] = tok }
                }
                // Logits only where a continuation token is predicted.
                var positions: [Int32] = [], rowOf: [Int] = []
                for (b, i) in group.enumerated() {
                    rowOf.append(positions.count)
                    for pos in starts[i]..<inputs[i].count { positions.append(Int32(b * L + pos - 1)) }
                }
                let logits = model.logits(x, batch: group.count, length: L, at: positions)   // [P, V]
                let V = model.vocabularySize
                for (b, i) in group.enumerated() {
                    let seq = inputs[i]
                    var ll = 0.0, greedy = true, per: [Double] = []
                    for (k, pos) in (starts[i]..<seq.count).enumerated() {
                        let row = logits.data + (rowOf[b] + k) * V
                        let m = VectorMath.max(row, V)
                        var z: Double = 0
                        var best = 0
                        for j in 0..<V { z += Foundation.exp(Double(row[j] - m)); if row[j] > row[best] { best = j } }
                        let target = Int(seq[pos])
                        let lp = Double(row[target] - m) - Foundation.log(z)
                        ll += lp
                        per.append(lp)
                        if best != target { greedy = false }
                    }
                    out[i] = Score(logLikelihood: ll, greedy: greedy, tokenLogLikelihoods: per)
                }
                done += group.count
                progress?(done)
            }
        }
        return out.map { $0! }
    }

    /// Greedy generation after `prompt` until one of `until` appears in the text (or `maxTokens`);
    /// returns the text before the stop string.
    public func generate(prompt: [Int32], until: [String], maxTokens: Int) -> String {
        let budget = max(1, context - maxTokens)
        let p = prompt.count > budget ? Array(prompt.suffix(budget)) : prompt
        var bytes: [UInt8] = []
        let eot = tokenizer.specialID("<|endoftext|>")
        _ = generator.generate(prompt: p.isEmpty ? [eot ?? 0] : p, maxTokens: maxTokens, options: SamplingOptions(temperature: 0), seed: 0,
                               stopAt: eot.map { [$0] } ?? []) { t in
            if t == eot { return false }
            bytes += tokenizer.bytes(of: t)
            let s = String(decoding: bytes, as: UTF8.self)
            return !until.contains { !$0.isEmpty && s.contains($0) }
        }
        var s = String(decoding: bytes, as: UTF8.self)
        for u in until where !u.isEmpty { if let r = s.range(of: u) { s = String(s[..<r.lowerBound]) } }
        return s
    }
}
