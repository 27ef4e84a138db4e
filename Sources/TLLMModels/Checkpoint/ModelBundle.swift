import Foundation
import TLLMCore
import TLLMTokenizer

/// A language model opened for use: the model, its tokenizer and where they came from.
public struct ModelBundle {
    public var model: any LanguageModel
    public var tokenizer: Tokenizer
    public var directory: URL
    /// The architecture, for reports.
    public var config: ModelConfig

    public init(model: any LanguageModel, tokenizer: Tokenizer, directory: URL, config: ModelConfig) {
        self.model = model; self.tokenizer = tokenizer; self.directory = directory; self.config = config
    }

    /// Opens a model directory or run folder of a causal model; the tokenizer (tokenizer.json
    /// beside the weights, or `vocabulary` when given) must match the model's vocabulary size.
    public static func open(_ dir: URL, vocabulary: String? = nil) throws -> ModelBundle {
        let (m, c, d) = try ModelStore.load(dir)
        guard let lm = m as? any LanguageModel else {
            throw TLLMError("this is a \(c.architecture) model; this command needs a causal language model (GPT)",
                            file: d.appendingPathComponent("config.json").path)
        }
        let tok = try ModelStore.tokenizer(for: d, vocabularySize: c.vocabSize, vocabulary: vocabulary)
        return ModelBundle(model: lm, tokenizer: tok, directory: d, config: c)
    }
}
