import Foundation
import TLLMContrastive
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// `tllm experiment simcse`: contrastive learning on the text side with the BERT encoder of the
/// transfer experiments. Unsupervised SimCSE (Gao et al., 2021): the same sentence encoded twice
/// with different dropout masks is the positive, the rest of the batch the negatives. Supervised
/// contrastive fine-tuning: the two speeches of a same-scene pair are the positives. Measured before
/// and after: same-scene retrieval (recall@1 of a speech's partner among all test partners) and a
/// linear genre probe on mean-pooled features.
public struct SimCSEExperiments {
    public struct Settings: Codable, Sendable {
        public var seeds = [1, 2, 3]
        public var steps = 100
        public var batch = 32
        public var learningRate: Float = 1e-4
        public var temperature: Float = 0.05
        public var dropout: Float = 0.1
        public init() {}
    }

    public var settings: Settings
    let work: URL, evals: URL
    public init(settings: Settings, work: URL, evals: URL) { self.settings = settings; self.work = work; self.evals = evals }

    struct Measures { var recall: Double; var genre: Double }

    /// Writes `simcse.md` and `simcse.csv` into `output`.
    public func run(output: URL, progress: @escaping (String) -> Void) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let t0 = Clock.now()
        let transfer = TransferExperiments(settings: .init(), work: work, evals: evals)
        let runURL = try transfer.pretrain("mlm-s1", objective: .masked(nsp: false), corpus: "all", seed: 1, tokens: transfer.settings.pretrainTokens)
        let scene = try ClassificationTask.load(evals.appendingPathComponent("same-scene"))
        let genre = try ClassificationTask.load(evals.appendingPathComponent("shakespeare-genre"))
        let same = scene.labels.firstIndex(of: "same") ?? 0
        let testPairs = scene.test.filter { $0.label == same && $0.textB != nil }
        let trainPairs = scene.train.filter { $0.label == same && $0.textB != nil }
        let sentences = genre.train.map(\.text) + scene.train.flatMap { [$0.text] + ($0.textB.map { [$0] } ?? []) }
        var rows: [(String, Int, Measures)] = []
        for seed in settings.seeds {
            let base = try load(runURL)
            rows.append(("pretrained MLM encoder", seed, measure(base, testPairs: testPairs, genre: genre)))
            let unsup = try load(runURL)
            let l1 = train(unsup, seed: UInt64(seed)) { rng in
                let pick = (0..<settings.batch).map { _ in sentences[rng.nextInt(below: sentences.count)] }
                return (pick, pick)
            }
            rows.append(("+ unsupervised SimCSE", seed, measure(unsup, testPairs: testPairs, genre: genre)))
            let sup = try load(runURL)
            let l2 = train(sup, seed: UInt64(seed)) { rng in
                let pick = (0..<settings.batch).map { _ in trainPairs[rng.nextInt(below: trainPairs.count)] }
                return (pick.map(\.text), pick.map { $0.textB! })
            }
            rows.append(("+ contrastive fine-tuning on same-scene pairs", seed, measure(sup, testPairs: testPairs, genre: genre)))
            progress(String(format: "seed %d: SimCSE loss %.3f → %.3f, pair loss %.3f → %.3f", seed, l1.first!, l1.last!, l2.first!, l2.last!))
        }
        var csv = "encoder,seed,same_scene_recall_at_1,genre_probe_accuracy\n"
        for (name, seed, m) in rows { csv += "\"\(name)\",\(seed),\(m.recall),\(m.genre)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("simcse.csv"))
        try AtomicFile.write(markdown(rows, pairs: testPairs.count, genre: genre, minutes: (Clock.now() - t0) / 60),
                             to: output.appendingPathComponent("simcse.md"))
    }

    func load(_ run: URL) throws -> (BERTModel, Tokenizer) { try SimCSETrainer.loadEncoder(run, dropout: settings.dropout) }

    func train(_ m: (BERTModel, Tokenizer), seed: UInt64, batch next: (inout RandomGenerator) -> ([String], [String])) -> [Double] {
        var t = SimCSETrainer.Settings()
        t.steps = settings.steps; t.batch = settings.batch; t.learningRate = settings.learningRate
        t.temperature = settings.temperature; t.dropout = settings.dropout; t.seed = seed
        return SimCSETrainer(settings: t).fit(m, pairs: next)
    }

    /// Mean-pooled features in evaluation mode, `[n, d]`.
    func embed(_ m: (BERTModel, Tokenizer), _ texts: [String]) -> [Float] {
        var out: [Float] = []
        Autograd.withNoGrad {
            for start in stride(from: 0, to: texts.count, by: 64) {
                let chunk = texts[start..<min(texts.count, start + 64)].map { TextPair($0) }
                let f = m.0.features(m.0.encodeInputs(chunk, tokenizer: m.1), pooling: .mean, layer: nil, context: .inference)
                out += Array(UnsafeBufferPointer(start: f.data, count: f.count))
            }
        }
        return out
    }

    func measure(_ m: (BERTModel, Tokenizer), testPairs: [ClassificationTask.Example], genre: ClassificationTask) -> Measures {
        let d = m.0.config.dModel
        let a = embed(m, testPairs.map(\.text)), b = embed(m, testPairs.map { $0.textB! })
        let nearest = FeatureProbe.nearestNeighbours(train: b, labels: Array(testPairs.indices), test: a, features: d, classes: testPairs.count, k: 1)
        let recall = Double(zip(nearest, testPairs.indices).filter { $0 == $1 }.count) / Double(testPairs.count)
        var lr = LogisticRegression(C: 1, maxIterations: 500)
        lr.fit(embed(m, genre.train.map(\.text)), features: d, labels: genre.train.map(\.label), classes: genre.labels.count)
        let predicted = lr.predict(embed(m, genre.test.map(\.text)))
        let acc = Double(zip(predicted, genre.test.map(\.label)).filter { $0 == $1 }.count) / Double(genre.test.count)
        return Measures(recall: recall, genre: acc)
    }

    func markdown(_ rows: [(String, Int, Measures)], pairs: Int, genre: ClassificationTask, minutes: Double) -> String {
        func stat(_ name: String, _ v: (Measures) -> Double) -> String {
            let xs = rows.filter { $0.0 == name }.map { v($0.2) }
            let m = xs.reduce(0, +) / Double(xs.count)
            let sd = xs.count > 1 ? (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot() : 0
            return String(format: "%.3f ± %.3f", m, sd)
        }
        var md = """
        # Contrastive learning on text: SimCSE on the BERT encoder

        Made by `tllm experiment simcse` on \(CPUFeatures.modelName), \(Threading.count) threads, in \(String(format: "%.1f", minutes)) minutes.
        Encoder: the masked-LM BERT of `tllm experiment transfer` (`runs/experiments/pretrain/mlm-s1`, reused if present).
        Unsupervised SimCSE: sentences from the training splits of `evals/shakespeare-genre` and `evals/same-scene` (labels
        unused), each encoded twice with dropout \(settings.dropout), mean-pooled, InfoNCE over the batch (\(settings.batch)), τ = \(settings.temperature),
        \(settings.steps) AdamW steps at \(settings.learningRate). Contrastive fine-tuning: the same loss with the two speeches of a
        same-scene training pair as positives. Same-scene retrieval: for each of the \(pairs) test pairs, is the first speech's
        nearest neighbour (cosine) among all second speeches its own partner (recall@1; chance \(String(format: "%.3f", 1 / Double(pairs))))?
        Genre probe: logistic regression on mean-pooled features, \(genre.labels.count) classes, majority baseline \(String(format: "%.3f", genre.majorityBaseline)).
        Mean ± std over seeds \(settings.seeds.map(String.init).joined(separator: ", ")) (sampling and dropout).

        | encoder | same-scene recall@1 | genre probe accuracy |
        |---|---:|---:|

        """
        var names: [String] = []
        for r in rows where !names.contains(r.0) { names.append(r.0) }
        for n in names { md += "| \(n) | \(stat(n) { $0.recall }) | \(stat(n) { $0.genre }) |\n" }
        return md
    }
}
