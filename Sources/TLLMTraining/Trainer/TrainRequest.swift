import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// A `tllm train` invocation: architecture choice, data, optimisation, where to write.
public struct TrainRequest {
    /// Parameter budget (`--params 10M`), used when no explicit architecture is given.
    public var parameters: Int?
    /// What the budget counts: all parameters (`train`) or non-embedding ones (scaling sweeps).
    public var sizing: ModelSizing.Target = .total
    public var layers: Int?
    public var dModel: Int?
    public var heads: Int?
    public var context: Int = 256
    public var norm: ModelConfig.Norm = .layernorm
    public var activation: ModelConfig.Activation = .gelu
    public var positions: ModelConfig.Positions = .learned
    public var dropout: Float = 0
    public var vocabulary: String?
    public var corpus: String?
    public var options = TrainingOptions()
    /// Token budget; converted to steps (`--tokens`). Ignored when `steps` is set.
    public var tokens: Int?
    public var steps: Int?
    public var out: URL?
    public var resume: URL?

    public init() {}

    /// The default compute budget C = 6·N·D in FLOPs: about 15 minutes for the 10M model on 2 cores.
    public static let defaultComputeBudget = 1.5e14

    /// The default token budget, `C / 6N` (≈ 2.5M tokens for the 10M model), at least 1M and at
    /// most 200M tokens.
    public static func defaultTokens(for config: ModelConfig) -> Int {
        let n = Double(config.parameters)
        return min(200_000_000, max(1_000_000, Int(defaultComputeBudget / (6 * n))))
    }

    /// Builds the architecture: explicit flags override the sizing rule.
    public func modelConfig(vocabularySize: Int) throws -> ModelConfig {
        var template = ModelConfig(vocabSize: vocabularySize, context: context, layers: 1, dModel: 64, heads: 1,
                                   norm: norm, activation: activation, positions: positions, dropout: dropout)
        if let p = parameters, layers == nil || dModel == nil {
            template = try ModelSizing.config(parameters: p, counting: sizing, vocabSize: vocabularySize, context: context, template: template)
        } else if parameters == nil && (layers == nil || dModel == nil) {
            template = try ModelSizing.config(parameters: 10_000_000, counting: .total, vocabSize: vocabularySize, context: context, template: template)
        }
        if let l = layers { template.layers = l }
        if let d = dModel {
            template.dModel = d
            template.heads = max(1, d / 64)
            template.mlpHidden = activation == .gelu ? 4 * d : ModelConfig.swigluHidden(d)
        }
        if let h = heads { template.heads = h }
        try template.validate()
        return template
    }
}

/// Sets up and runs a causal-LM training run (`tllm train --objective clm`).
public enum LanguageModelTraining {
    /// Everything resolved before training starts (printed by the CLI).
    public struct Plan {
        public var config: ModelConfig
        public var options: TrainingOptions
        public var run: URL
        public var tokenizer: Tokenizer
        public var data: TokenizedCorpus
        public var corpusName: String
        public var resumed: Bool
    }

    /// Resolves vocabulary, corpus, architecture and budget; for `--resume`, reads them from the checkpoint.
    public static func plan(_ r: TrainRequest, log: (String) -> Void) throws -> Plan {
        BLASRuntime.prepare()
        if let resumeDir = r.resume {
            let ck = try Checkpoint.locate(run: resumeDir)
            let state = try Checkpoint.readState(ck)
            let config = try ModelStore.readConfig(ck)
            let tokenizer = try VocabularyFiles.readJSON(ck.appendingPathComponent("tokenizer.json"))
            var options = state.options
            if let s = r.steps { options.steps = s } else if let t = r.tokens { options.steps = max(1, t / options.tokensPerStep) }
            let corpus = try Corpus.load(r.corpus)
            let data = try TokenizedCorpus.make(corpus, tokenizer: tokenizer, validationFraction: options.validationFraction, log: log)
            return Plan(config: config, options: options, run: resumeDir, tokenizer: tokenizer, data: data,
                        corpusName: corpus.name, resumed: true)
        }
        let tokenizer = try VocabularyFiles.load(r.vocabulary)
        var config = try r.modelConfig(vocabularySize: tokenizer.vocabularySize)
        config.dropout = r.dropout
        var options = r.options
        options.context = config.context
        let corpus = try Corpus.load(r.corpus)
        let data = try TokenizedCorpus.make(corpus, tokenizer: tokenizer, validationFraction: options.validationFraction, log: log)
        if let s = r.steps { options.steps = s } else {
            let budget = r.tokens ?? TrainRequest.defaultTokens(for: config)
            options.steps = max(1, budget / options.tokensPerStep)
        }
        let run = r.out ?? URL(fileURLWithPath: "runs").appendingPathComponent(defaultRunName(config))
        if FileManager.default.fileExists(atPath: Checkpoint.directory(run).path) {
            throw TLLMError("already holds a run; continue it with --resume \(run.path), or choose another --out", file: run.path)
        }
        return Plan(config: config, options: options, run: run, tokenizer: tokenizer, data: data, corpusName: corpus.name, resumed: false)
    }

    static func defaultRunName(_ c: ModelConfig) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "gpt-\(formatCount(c.parameters))-\(f.string(from: Date()))"
    }

    /// Builds the model and trainer for a plan and trains.
    public static func execute(_ plan: Plan, progress: ProgressDisplay = ProgressDisplay(), stopAt: Int? = nil) throws -> Trainer.Summary {
        let model = try GPTModel(config: plan.config, seed: plan.options.seed)
        let objective = try CausalLMObjective(model: model, tokenizer: plan.tokenizer, data: plan.data, options: plan.options)
        let json = VocabularyFiles.encodeJSON(plan.tokenizer)
        let trainer = try Trainer(objective: objective, options: plan.options, run: plan.run, tokenizerJSON: json, resume: plan.resumed)
        trainer.progress = progress
        if !plan.resumed { try writeRunConfig(plan) }
        return try trainer.train(stopAt: stopAt)
    }

    /// `config.json` of the run folder: architecture, parameter counts, training options, data.
    public static func writeRunConfig(_ plan: Plan) throws {
        try FileManager.default.createDirectory(at: plan.run, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let model = try JSONSerialization.jsonObject(with: try enc.encode(plan.config))
        let opts = try JSONSerialization.jsonObject(with: try enc.encode(plan.options))
        let obj: [String: Any] = [
            "model": model, "training": opts, "parameters": plan.config.parameters,
            "non_embedding_parameters": plan.config.nonEmbeddingParameters,
            "flops_per_token": plan.config.trainingFLOPsPerToken(),
            "tokens": plan.options.steps * plan.options.tokensPerStep,
            "corpus": plan.corpusName, "vocabulary": plan.tokenizer.name, "vocab_size": plan.tokenizer.vocabularySize,
            "train_tokens_available": plan.data.train.count, "validation_tokens": plan.data.validation.count,
            "validation_documents": plan.data.validationDocuments, "threads": Threading.count, "blas_core": BLASRuntime.coreName,
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]),
                             to: plan.run.appendingPathComponent("config.json"))
    }
}
