import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Opening a model for classification fine-tuning.
public enum FineTuneSetup {
    /// A classifier over the model in `dir` (BERT or GPT); `fromScratch` keeps the architecture but
    /// re-initialises every weight with `seed`.
    public static func classifier(model dir: URL, classes: Int, fromScratch: Bool, seed: UInt64) throws -> Classifier {
        let d = try ModelStore.resolve(dir)
        let config = try ModelStore.readConfig(d)
        let tp = d.appendingPathComponent("tokenizer.json")
        let tok = FileManager.default.fileExists(atPath: tp.path) ? try VocabularyFiles.readJSON(tp) : try VocabularyFiles.load(nil)
        guard tok.vocabularySize == config.vocabSize else { throw TLLMError("tokenizer.json does not match the model's vocabulary", file: d.path) }
        switch config.architecture {
        case .bert:
            let m = try BERTModel(config: config, seed: seed &+ 1000)
            if !fromScratch { try ModelStore.loadWeights(into: m.namedParameters, from: d) }
            return Classifier(backbone: .bert(m), tokenizer: tok, classes: classes, seed: seed)
        case .gpt:
            let m = try GPTModel(config: config, seed: seed &+ 1000)
            if !fromScratch { try ModelStore.loadWeights(into: m.namedParameters, from: d) }
            return Classifier(backbone: .gpt(m), tokenizer: tok, classes: classes, seed: seed)
        }
    }
}
