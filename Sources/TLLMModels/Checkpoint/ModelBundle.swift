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

    /// Opens a causal model: a `.gguf` file (weights, tokenizer and chat template from its
    /// metadata), or a model directory or run folder (the tokenizer is tokenizer.json beside the
    /// weights, or `vocabulary` when given, and must match the model's vocabulary size).
    public static func open(_ dir: URL, vocabulary: String? = nil) throws -> ModelBundle {
        if isGGUF(dir) {
            let g = try GGUFLanguageModel(path: dir.path)
            let tok = try vocabulary.map { try VocabularyFiles.load($0) } ?? g.tokenizer
            guard tok.vocabularySize <= g.vocabularySize else {
                throw TLLMError("vocabulary \(tok.name) has \(tok.vocabularySize) tokens but the model has \(g.vocabularySize)", file: dir.path)
            }
            return ModelBundle(model: g, tokenizer: tok, directory: dir, config: g.config)
        }
        let (m, c, d) = try ModelStore.load(dir)
        guard let lm = m as? any LanguageModel else {
            throw TLLMError("this is a \(c.architecture) model; this command needs a causal language model (GPT)",
                            file: d.appendingPathComponent("config.json").path)
        }
        let tok = try ModelStore.tokenizer(for: d, vocabularySize: c.vocabSize, vocabulary: vocabulary)
        return ModelBundle(model: lm, tokenizer: tok, directory: d, config: c)
    }

    /// Whether `url` is a GGUF file (by its first four bytes).
    public static func isGGUF(_ url: URL) -> Bool {
        guard let h = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    /// The chat template, for GGUF chat models.
    public var chatTemplate: ChatTemplate? { (model as? GGUFLanguageModel)?.chat }
}
