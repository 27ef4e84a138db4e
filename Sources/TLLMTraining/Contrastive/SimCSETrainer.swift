import Foundation
import TLLMContrastive
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// Contrastive training of a BERT encoder on text (Gao et al., 2021): each row of a batch is a
/// pair of texts whose mean-pooled features are pulled together, the other rows of the batch are
/// the negatives (InfoNCE on cosine similarity / τ). Unsupervised SimCSE passes the same sentence
/// twice — the two dropout masks are the only difference; supervised pairs (two speeches of one
/// scene) pass different texts.
public struct SimCSETrainer {
    public struct Settings: Codable, Sendable {
        /// AdamW steps.
        public var steps = 100
        /// Pairs per step (the negatives of a row are the other `batch − 1`).
        public var batch = 32
        public var learningRate: Float = 1e-4
        /// Softmax temperature τ.
        public var temperature: Float = 0.05
        /// Dropout switched on in the encoder while training (SimCSE's only augmentation).
        public var dropout: Float = 0.1
        public var seed: UInt64 = 1
        public init() {}

        public func validate() throws {
            guard steps >= 1, batch >= 2, learningRate > 0, learningRate.isFinite, temperature > 0, temperature.isFinite,
                  (0..<1).contains(dropout) else {
                throw TLLMError("SimCSE: needs steps ≥ 1, batch ≥ 2, a positive finite learning rate and temperature, 0 ≤ dropout < 1")
            }
        }
    }

    public var settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// A BERT run's encoder with `dropout` switched on, and its tokenizer.
    public static func loadEncoder(_ run: URL, dropout: Float) throws -> (BERTModel, Tokenizer) {
        let dir = try ModelStore.resolve(run)
        var c = try ModelStore.readConfig(dir)
        guard c.architecture == .bert else { throw TLLMError("SimCSE trains a BERT (masked-LM) encoder; this is a \(c.architecture.rawValue)", file: dir.path) }
        c.dropout = dropout
        let bert = try BERTModel(configuration: c, seed: 0)
        try ModelStore.loadWeights(into: bert.namedParameters, from: dir)
        return (bert, try ModelStore.tokenizer(for: dir, vocabularySize: c.vocabSize))
    }

    /// The segments of a corpus (speeches, verses, paragraphs) as sentences for unsupervised
    /// training: whitespace collapsed, at least `minCharacters`, cut at `maxCharacters`.
    public static func sentences(_ corpus: Corpus, minCharacters: Int = 20, maxCharacters: Int = 400) -> [String] {
        corpus.documents.flatMap { d in
            d.segments.compactMap { r -> String? in
                let s = String(decoding: d.text[r], as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
                return s.count >= minCharacters ? String(s.prefix(maxCharacters)).trimmingCharacters(in: .whitespaces) : nil
            }
        }
    }

    /// Trains `encoder` for `settings.steps` steps on the pairs `next` draws; the loss per step.
    public func fit(_ encoder: (BERTModel, Tokenizer), pairs next: (inout RandomGenerator) -> ([String], [String]),
                    progress: ((Int, Double) -> Void)? = nil) -> [Double] {
        let (bert, tok) = encoder
        let optimizer = AdamW(groups: ParameterGroup.standard(bert.parameters, weightDecay: 0), learningRate: settings.learningRate)
        var data = RandomGenerator(seed: settings.seed, stream: RandomGenerator.streamID("simcse-data"))
        var dropout = RandomGenerator(seed: settings.seed, stream: RandomGenerator.streamID("simcse-dropout"))
        var losses: [Double] = []
        for step in 0..<settings.steps {
            let (a, b) = next(&data)
            let ctx = ForwardContext.training(rng: dropout)
            let za = bert.features(bert.encodeInputs(a.map { TextPair($0) }, tokenizer: tok), pooling: .mean, layer: nil, context: ctx)
            let zb = bert.features(bert.encodeInputs(b.map { TextPair($0) }, tokenizer: tok), pooling: .mean, layer: nil, context: ctx)
            dropout = ctx.rng!
            let logits = za.l2Normalized().matmul(zb.l2Normalized(), transposeOther: true).scaled(by: 1 / settings.temperature)
            let loss = ContrastiveLoss.infoNCE(logits: logits, positive: (0..<a.count).map(Int32.init))
            losses.append(Double(loss.item))
            loss.backward()
            optimizer.step(); optimizer.zeroGrad()
            progress?(step + 1, losses.last!)
        }
        return losses
    }

    /// Unsupervised SimCSE over `sentences`: each row a sentence drawn at random, twice.
    public func fit(_ encoder: (BERTModel, Tokenizer), sentences: [String], progress: ((Int, Double) -> Void)? = nil) -> [Double] {
        fit(encoder, pairs: { rng in
            let pick = (0..<settings.batch).map { _ in sentences[rng.nextInt(below: sentences.count)] }
            return (pick, pick)
        }, progress: progress)
    }
}
