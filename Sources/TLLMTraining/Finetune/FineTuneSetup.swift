import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Opening a model for classification fine-tuning.
public enum FineTuneSetup {
    /// A classifier over the model in `dir` (any architecture in ``ModelRegistry``);
    /// `fromScratch` keeps the architecture but re-initialises every weight with `seed`.
    public static func classifier(model dir: URL, classes: Int, fromScratch: Bool, seed: UInt64) throws -> Classifier {
        let d = try ModelStore.resolve(dir)
        let config = try ModelStore.readConfig(d)
        let tok = try ModelStore.tokenizer(for: d, vocabularySize: config.vocabSize)
        let model = try ModelRegistry.make(config, seed: seed &+ 1000)
        guard let backbone = model as? any ClassifierBackbone else {
            throw TLLMError("a \(config.architecture.rawValue) model cannot back a classifier", file: d.path)
        }
        if !fromScratch { try ModelStore.loadWeights(into: model.namedParameters, from: d) }
        return Classifier(backbone: backbone, tokenizer: tok, classes: classes, seed: seed)
    }
}
