import Foundation
import TLLMCore
import TLLMTokenizer

/// A model folder opened for use: the GPT, its tokenizer and where they came from.
public struct ModelBundle {
    public var model: GPTModel
    public var tokenizer: Tokenizer
    public var directory: URL

    /// Opens a model directory or run folder; the tokenizer (tokenizer.json beside the weights, or
    /// `vocabulary` when given) must match the model's vocabulary size.
    public static func open(_ dir: URL, vocabulary: String? = nil) throws -> ModelBundle {
        let d = try ModelStore.resolve(dir)
        let model = try ModelStore.loadGPT(d)
        let tokPath = d.appendingPathComponent("tokenizer.json")
        let tok: Tokenizer
        if let vocabulary { tok = try VocabularyFiles.load(vocabulary) } else if FileManager.default.fileExists(atPath: tokPath.path) {
            tok = try VocabularyFiles.readJSON(tokPath)
        } else {
            tok = try VocabularyFiles.load(nil)
        }
        guard tok.vocabularySize == model.config.vocabSize else {
            throw TLLMError("vocabulary \(tok.name) has \(tok.vocabularySize) tokens but the model was trained with \(model.config.vocabSize) (wrong vocabulary)",
                            file: d.path)
        }
        return ModelBundle(model: model, tokenizer: tok, directory: d)
    }
}
