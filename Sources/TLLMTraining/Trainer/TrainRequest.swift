import Foundation
import TLLMCore
import TLLMData
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
    /// Key/value heads (grouped-query attention); nil = one per head.
    public var kvHeads: Int?
    /// Blocks without MLPs.
    public var attentionOnly = false
    public var context: Int = 256
    public var norm: ModelConfig.Norm = .layernorm
    public var activation: ModelConfig.Activation = .gelu
    public var positions: ModelConfig.Positions = .learned
    public var dropout: Float = 0
    /// Next token (a GPT) or masked tokens (a BERT-style encoder), with or without NSP.
    public var objective: Objective = .nextToken
    /// Start from these weights instead of a fresh initialisation (`tllm finetune --objective clm`).
    public var initialWeights: URL?
    public var vocabulary: String?
    /// `nil` = automatic (``DataParallelGPT/worthwhile(_:batch:)``).
    public var dataParallel: Bool?
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
        template.attentionOnly = attentionOnly
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
        if let k = kvHeads { template.kvHeads = k }
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
        public var corpus: Corpus
        public var initialWeights: URL?
        /// A resumed run that has already reached its last step (nothing to train).
        public var finished: Bool = false
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
            // The data position in the trainer state only means something on the run's own corpus.
            if let asked = r.corpus, let saved = options.corpus, Corpus.canonicalSpec(asked) != saved {
                throw TLLMError("this run trains on \(saved); --resume continues on the same corpus (drop --corpus \(asked))", file: resumeDir.path)
            }
            try options.validate()
            let finished = state.step >= options.steps
            let corpus = try Corpus.load(options.corpus ?? r.corpus)
            let data = finished ? TokenizedCorpus(train: [], validation: [], validationDocuments: [], trainDocuments: 0, tokenBytes: [])
                : try TokenizedCorpus.make(corpus, tokenizer: tokenizer, validationFraction: options.validationFraction, log: log)
            return Plan(config: config, options: options, run: resumeDir, tokenizer: tokenizer, data: data,
                        corpusName: corpus.name, resumed: true, corpus: corpus, initialWeights: nil, finished: finished)
        }
        let tokenizer: Tokenizer
        var config: ModelConfig
        if let w = r.initialWeights {
            let d = try ModelStore.resolve(w)
            config = try ModelStore.readConfig(d)
            let tp = d.appendingPathComponent("tokenizer.json")
            tokenizer = FileManager.default.fileExists(atPath: tp.path) ? try VocabularyFiles.readJSON(tp) : try VocabularyFiles.load(r.vocabulary)
            guard tokenizer.vocabularySize == config.vocabSize else {
                throw TLLMError("the model's vocabulary (\(config.vocabSize)) and \(tokenizer.name) (\(tokenizer.vocabularySize)) differ", file: w.path)
            }
        } else {
            var t = try VocabularyFiles.load(r.vocabulary)
            do {
                config = try r.modelConfig(vocabularySize: t.vocabularySize)
            } catch where r.vocabulary == nil && r.parameters != nil {
                // A size too small for the default 8k vocabulary's embedding (e.g. --params 500K):
                // the bundled 2048-token vocabulary, which the sweeps use too.
                guard let path = ResourceLocator.find("vocab/tllm-2k.json") else { throw error }
                let small = try VocabularyFiles.readJSON(path)
                guard let c = try? r.modelConfig(vocabularySize: small.vocabularySize) else { throw error }
                log("note: \(formatCount(r.parameters!)) parameters cannot hold the default vocabulary's embedding; using vocab/tllm-2k.json (\(small.vocabularySize) tokens)")
                t = small; config = c
            }
            tokenizer = t
            config.dropout = r.dropout
            if r.objective != .nextToken { config.architecture = .bert; config.segments = 2 }
        }
        var options = r.options
        options.objective = r.objective
        options.dataParallel = r.objective == .nextToken && (r.dataParallel ?? DataParallelGPT.worthwhile(config, batch: options.batch))
        options.context = config.context
        options.corpus = Corpus.canonicalSpec(r.corpus ?? "shakespeare")
        let corpus = try Corpus.load(r.corpus)
        let data = try TokenizedCorpus.make(corpus, tokenizer: tokenizer, validationFraction: options.validationFraction, log: log)
        if let s = r.steps { options.steps = s } else {
            let budget = r.tokens ?? TrainRequest.defaultTokens(for: config)
            options.steps = max(1, budget / options.tokensPerStep)
        }
        let run = r.out ?? URL(fileURLWithPath: "runs").appendingPathComponent(defaultRunName(config))
        try RunFolder.checkNewRun(run)
        try config.checkFitsInMemory(training: true, batch: options.batch)
        return Plan(config: config, options: options, run: run, tokenizer: tokenizer, data: data, corpusName: corpus.name, resumed: false,
                    corpus: corpus, initialWeights: r.initialWeights)
    }

    static func defaultRunName(_ c: ModelConfig) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(c.architecture == .bert ? "bert" : "gpt")-\(formatCount(c.parameters))-\(f.string(from: Date()))"
    }

    /// Builds the model and trainer for a plan and trains.
    public static func execute(_ plan: Plan, progress: ProgressDisplay = ProgressDisplay(), stopAt: Int? = nil) throws -> Trainer.Summary {
        let lock = try RunLock.acquire(plan.run)
        defer { lock.release() }
        if !plan.resumed { try RunFolder.checkNewRun(plan.run) }  // checked again under the lock
        let objective = try makeObjective(plan)
        let json = VocabularyFiles.encodeJSON(plan.tokenizer)
        let trainer = try Trainer(objective: objective, options: plan.options, run: plan.run, tokenizerJSON: json, resume: plan.resumed)
        trainer.progress = progress
        if !plan.resumed { try writeRunConfig(plan) }
        return try trainer.train(stopAt: stopAt)
    }

    /// The model (fresh, or with the plan's initial weights) and its objective.
    static func makeObjective(_ plan: Plan) throws -> TrainingObjective {
        let model = try ModelRegistry.make(plan.config, seed: plan.options.seed)
        if let w = plan.initialWeights, !plan.resumed { try ModelStore.loadWeights(into: model.namedParameters, from: try ModelStore.resolve(w)) }
        switch plan.options.objective {
        case .masked(let nsp):
            guard let bert = model as? BERTModel else { throw TLLMError("masked-LM training needs a BERT-style model, not \(plan.config.architecture)") }
            let segs = SegmentedCorpus.make(plan.corpus, tokenizer: plan.tokenizer, validationFraction: plan.options.validationFraction)
            return try MaskedLMObjective(model: bert, tokenizer: plan.tokenizer, data: segs, options: plan.options, nsp: nsp)
        case .nextToken:
            guard let gpt = model as? GPTModel else { throw TLLMError("next-token training needs a causal model, not \(plan.config.architecture)") }
            return try CausalLMObjective(model: gpt, tokenizer: plan.tokenizer, data: plan.data, options: plan.options)
        }
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
            "corpus": plan.corpusName, "vocabulary": plan.tokenizer.name, "objective": plan.options.objective.name, "nsp": plan.options.objective.usesNSP,
            "initial_weights": plan.initialWeights?.path ?? NSNull(), "vocab_size": plan.tokenizer.vocabularySize,
            "train_tokens_available": plan.data.train.count, "validation_tokens": plan.data.validation.count,
            "validation_documents": plan.data.validationDocuments, "threads": Threading.count, "blas_core": BLASRuntime.coreName,
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]),
                             to: plan.run.appendingPathComponent("config.json"))
    }
}
