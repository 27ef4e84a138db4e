import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Times batch-1 inference with the KV cache: the prompt's prefill and greedy decoding (so that
/// sampling cost does not enter), for a fresh model of a configuration or any loaded model.
public enum GenerateBenchmark {
    public struct Result: Codable, Sendable {
        public var parameters: Int
        public var promptTokens: Int
        public var tokens: Int
        public var prefillSeconds: Double
        public var seconds: Double
        public var prefillTokensPerSecond: Double
        public var tokensPerSecond: Double
        public var peakRSSBytes: Int
        public var threads: Int
        public var cpu: String
        public var kernels: String
        enum CodingKeys: String, CodingKey {
            case parameters, promptTokens = "prompt_tokens", tokens = "new_tokens", prefillSeconds = "prefill_seconds", seconds = "decode_seconds"
            case prefillTokensPerSecond = "prefill_tokens_per_s", tokensPerSecond = "decode_tokens_per_s"
            case peakRSSBytes = "peak_rss_bytes", threads, cpu, kernels
        }
    }

    /// A freshly initialised GPT of `config` (weights as `quantized`, or f32): `tokens` decoded
    /// after a one-token prompt.
    public static func run(config: ModelConfig, tokens: Int, quantized: QuantType? = nil, seed: UInt64 = 1) throws -> Result {
        let model = try GPTModel(config: config, seed: seed)
        let decoder = TransformerDecoder(stack: model.decoderStack(quantizedTo: quantized))
        return run(decoder: decoder, parameters: config.parameters, prompt: [1], newTokens: min(tokens, config.context - 2))
    }

    /// `model` on `prompt` (prefill), then `newTokens` greedy steps; a warm-up pass first.
    public static func run(model: any LanguageModel, parameters: Int, prompt: [Int32], newTokens: Int) -> Result {
        run(decoder: model.makeDecoder(), parameters: parameters, prompt: prompt, newTokens: newTokens)
    }

    static func run(decoder: any IncrementalDecoder, parameters: Int, prompt: [Int32], newTokens: Int) -> Result {
        BLASRuntime.prepare()
        let n = min(newTokens, decoder.contextLength - prompt.count)
        decoder.whileDecoding { time(decoder, prompt: prompt, steps: min(8, n)) }   // warm-up
        let (prefill, decode, made) = decoder.whileDecoding { time(decoder, prompt: prompt, steps: n) }
        return Result(parameters: parameters, promptTokens: prompt.count, tokens: made, prefillSeconds: prefill, seconds: decode,
                      prefillTokensPerSecond: Double(prompt.count) / prefill, tokensPerSecond: made > 0 ? Double(made) / decode : 0,
                      peakRSSBytes: peakRSSBytes(), threads: Threading.count, cpu: CPUFeatures.modelName, kernels: QuantDispatch.path.rawValue)
    }

    static func time(_ d: any IncrementalDecoder, prompt: [Int32], steps: Int) -> (Double, Double, Int) {
        d.reset()
        let t0 = Clock.now()
        d.feed(prompt)
        let t1 = Clock.now()
        for _ in 0..<steps {
            let p = d.logits
            var best = 0
            for j in 1..<d.vocabularySize where p[j] > p[best] { best = j }
            d.feed([Int32(best)])
        }
        return (t1 - t0, Clock.now() - t1, steps)
    }

    /// `count` tokens of real text (the bundled plays, repeated if need be) for prompts.
    public static func promptTokens(_ count: Int, tokenizer: Tokenizer) throws -> [Int32] {
        guard let dir = ResourceLocator.find("corpora/shakespeare/hamlet.txt") else { throw TLLMError("bundled corpora/shakespeare/hamlet.txt not found") }
        let ids = tokenizer.encode(bytes: Array(try TextFiles.readUTF8(dir.path).prefix(200_000)))
        guard !ids.isEmpty else { throw TLLMError("no tokens for the prompt") }
        return (0..<count).map { ids[$0 % ids.count] }
    }
}
