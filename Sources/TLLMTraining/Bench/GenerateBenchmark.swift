import Foundation
import TLLMCore
import TLLMModels

/// Times KV-cache generation at batch 1 (greedy, so that sampling cost does not enter).
public enum GenerateBenchmark {
    public struct Result: Codable, Sendable {
        public var parameters: Int
        public var tokens: Int
        public var seconds: Double
        public var tokensPerSecond: Double
        public var peakRSSBytes: Int
        public var threads: Int
        enum CodingKeys: String, CodingKey {
            case parameters, tokens, seconds, tokensPerSecond = "generate_tokens_per_s", peakRSSBytes = "peak_rss_bytes", threads
        }
    }

    public static func run(config: ModelConfig, tokens: Int, seed: UInt64 = 1) throws -> Result {
        BLASRuntime.prepare()
        let model = try GPTModel(config: config, seed: seed)
        let gen = Generator(model: model)
        let n = min(tokens, config.context - 2)
        _ = gen.generate(prompt: [1], maxTokens: 8, options: SamplingOptions(temperature: 0), seed: seed)  // warm-up
        let t0 = Clock.now()
        let out = gen.generate(prompt: [1], maxTokens: n, options: SamplingOptions(temperature: 0), seed: seed)
        let dt = Clock.now() - t0
        return Result(parameters: config.parameters, tokens: out.count, seconds: dt, tokensPerSecond: Double(out.count) / dt,
                      peakRSSBytes: peakRSSBytes(), threads: Threading.count)
    }
}
