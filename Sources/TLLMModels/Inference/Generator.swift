import TLLMCore

/// Text generation from any ``LanguageModel``: feeds the prompt once, then samples one token at a
/// time from its incremental decoder (key/value cache). When the context fills, the cache is
/// rebuilt from the last half of the context.
public final class Generator {
    public let decoder: any IncrementalDecoder

    public init(model: any LanguageModel) { decoder = model.makeDecoder() }
    public init(decoder: any IncrementalDecoder) { self.decoder = decoder }

    /// Logits of the last token fed: `[vocab]`.
    public var logits: UnsafeMutablePointer<Float> { decoder.logits }
    /// Tokens currently in the cache.
    public var length: Int { decoder.length }
    /// How many more tokens fit.
    public var remaining: Int { decoder.remaining }
    /// Empties the cache.
    public func reset() { decoder.reset() }
    /// Feeds `tokens` after the cached ones (see ``IncrementalDecoder/feed(_:)``).
    public func feed(_ tokens: [Int32]) { decoder.feed(tokens) }
}

/// How the next token is chosen from logits.
public struct SamplingOptions: Sendable {
    /// 0 = greedy (argmax).
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens (0 = all).
    public var topK: Int = 200
    /// Keep the smallest set of tokens whose probability reaches p (1 = all).
    public var topP: Float = 1
    public init(temperature: Float = 0.8, topK: Int = 200, topP: Float = 1) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
    }
}

public enum Sampler {
    /// Picks a token from `logits[0..<n]`.
    public static func sample(_ logits: UnsafePointer<Float>, count n: Int, options o: SamplingOptions,
                              rng: inout RandomGenerator) -> Int32 {
        if o.temperature <= 0 {
            var best = 0
            for i in 1..<n where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        var idx = Array(0..<n)
        if o.topK > 0 && o.topK < n {
            idx.sort { logits[$0] > logits[$1] }
            idx = Array(idx.prefix(o.topK))
        } else if o.topP < 1 {
            idx.sort { logits[$0] > logits[$1] }
        }
        let m = idx.map { logits[$0] }.max() ?? 0
        var p = idx.map { Double(VectorMath.exp((logits[$0] - m) / o.temperature)) }
        let z = p.reduce(0, +)
        p = p.map { $0 / z }
        if o.topP < 1 {
            var cum = 0.0, keep = 0
            for (k, v) in p.enumerated() { cum += v; keep = k + 1; if cum >= Double(o.topP) { break } }
            idx = Array(idx.prefix(keep)); p = Array(p.prefix(keep))
            let z2 = p.reduce(0, +); p = p.map { $0 / z2 }
        }
        let u = rng.nextDouble()
        var cum = 0.0
        for (k, v) in p.enumerated() {
            cum += v
            if u < cum { return Int32(idx[k]) }
        }
        return Int32(idx.last ?? 0)
    }
}

extension Generator {
    /// Generates up to `maxTokens` after `prompt`, calling `onToken` as each arrives (return false
    /// to stop). When the context fills, the cache is rebuilt from the last half of the context.
    public func generate(prompt: [Int32], maxTokens: Int, options: SamplingOptions, seed: UInt64,
                         stopAt: Set<Int32> = [], onToken: (Int32) -> Bool = { _ in true }) -> [Int32] {
        decoder.whileDecoding { generateTokens(prompt: prompt, maxTokens: maxTokens, options: options, seed: seed,
                                                        stopAt: stopAt, onToken: onToken) }
    }

    func generateTokens(prompt: [Int32], maxTokens: Int, options: SamplingOptions, seed: UInt64,
                        stopAt: Set<Int32>, onToken: (Int32) -> Bool) -> [Int32] {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("sample"))
        let context = decoder.contextLength
        var history = prompt.isEmpty ? [Int32(0)] : prompt
        reset()
        let start = history.count > context ? Array(history.suffix(context)) : history
        feed(start)
        var out: [Int32] = []
        for _ in 0..<maxTokens {
            let t = Sampler.sample(logits, count: decoder.vocabularySize, options: options, rng: &rng)
            out.append(t)
            history.append(t)
            if stopAt.contains(t) || !onToken(t) { break }
            if remaining == 0 {
                reset()
                feed(Array(history.suffix(context / 2)))
            } else {
                feed([t])
            }
        }
        return out
    }
}
