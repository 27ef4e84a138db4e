import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Perplexity and bits per byte of a text under a causal model.
///
/// The text is encoded, `<|endoftext|>` is put in front, and the stream is cut into disjoint
/// windows of the model's context: every token is predicted exactly once, from the tokens before it
/// in its window (lm-evaluation-harness's rolling log-likelihood with disjoint windows).
public enum Perplexity {
    public struct Result: Codable, Sendable {
        /// Tokens predicted.
        public var tokens: Int
        /// UTF-8 bytes of the text.
        public var bytes: Int
        /// Mean negative log-likelihood, nats per token.
        public var loss: Double
        public var perplexity: Double
        public var bitsPerByte: Double
        /// Total negative log-likelihood in nats.
        public var nats: Double

        enum CodingKeys: String, CodingKey {
            case tokens, bytes, loss, perplexity, bitsPerByte = "bits_per_byte", nats
        }
    }

    /// Scores `text` with windows of `window` tokens (default: the model's context, at most 2,048), up to
    /// `batch` windows at a time — fewer when their logits would pass 256 MB (a 49K-token vocabulary makes
    /// a window of 8,192 tokens 1.6 GB of logits on its own).
    /// An empty text, or a window below 1, is an error naming `file`: there is nothing to score.
    public static func evaluate(model: any LanguageModel, tokenizer: Tokenizer, text: [UInt8], window: Int? = nil, file: String? = nil,
                                batch: Int = 8, progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        if let window, window < 1 { throw TLLMError("the window must be at least 1 token, got \(window)", file: file) }
        let T = min(window ?? min(model.contextLength, 2048), model.contextLength)
        let batch = max(1, min(batch, (256 << 20) / max(1, T * model.vocabularySize * 4)))
        let ids = tokenizer.encode(bytes: text)
        guard !ids.isEmpty else { throw TLLMError("the text is empty: there is nothing to score", file: file) }
        let stream = [tokenizer.specialID("<|endoftext|>") ?? ids.first ?? 0] + ids
        let predicted = stream.count - 1
        let windows = (predicted + T - 1) / T
        var nats = 0.0
        Autograd.withNoGrad {
                var w = 0
            while w < windows {
                let nb = min(batch, windows - w)
                var x = [Int32](repeating: 0, count: nb * T), y = [Int32](repeating: -100, count: nb * T)
                for b in 0..<nb {
                    let s = (w + b) * T
                    let n = min(T, predicted - s)
                    for i in 0..<n { x[b * T + i] = stream[s + i]; y[b * T + i] = stream[s + i + 1] }
                }
                let valid = y.filter { $0 != -100 }.count
                let l = model.loss(x, targets: y, batch: nb, length: T)
                nats += Double(l.item) * Double(valid)
                w += nb
                progress?(w, windows)
            }
        }
        let loss = nats / Double(max(1, predicted))
        return Result(tokens: predicted, bytes: text.count, loss: loss, perplexity: Foundation.exp(loss),
                      bitsPerByte: nats / Foundation.log(2) / Double(max(1, text.count)), nats: nats)
    }
}
