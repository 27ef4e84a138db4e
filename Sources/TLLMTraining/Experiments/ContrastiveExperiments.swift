import Foundation
import TLLMContrastive
import TLLMCore
import TLLMData
import TLLMDictionary

/// `tllm experiment contrastive`: what contrastive pretraining buys when labels are scarce, on
/// the digits. SimCLR and MoCo encoders (trained on the 70% pool, labels unused) against raw
/// pixels, PCA, an untrained encoder and the same encoder trained with labels; linear-probe and
/// k-NN accuracy on the 30% test images with 1, 5, 10 or all labels per class.
public struct ContrastiveExperiments {
    public struct Settings: Codable, Sendable {
        public var seeds: [Int] = [1, 2, 3]
        public var labelsPerClass = [1, 5, 10, 0]
        public var methods: [ContrastiveMethod] = [.simclr, .moco, .dim]
        public var epochs = 100
        public var supervisedSteps = 300
        public init() {}
    }

    public struct Row: Sendable {
        public var features: String, labelsPerClass: Int, seed: Int, linear: Double, knn: Double
    }

    public var settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// Runs everything and writes `contrastive.md` and `contrastive.csv` into `output`.
    public func run(output: URL, progress: @escaping (String) -> Void) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let t0 = Clock.now()
        let digits = try LabeledVectors.digits()
        let N = digits.count
        let images = Tensor(shape: [N, 1, 8, 8], values: digits.values)
        let split = FewLabelSplit(labels: digits.labels)
        let pool = Tensor(shape: [split.pool.count, 1, 8, 8], values: split.pool.flatMap { digits.row($0) })
        var rows: [Row] = [], seconds: [String: [Double]] = [:]
        let all = Matrix(rows: N, cols: 64, values: digits.values)
        let pca = PCA(all.rows(split.pool), components: 32)
        for seed in settings.seeds {
            var encoders: [(String, [Float], Int)] = [("pixels", digits.values, 64), ("PCA 32", pca.transform(all).values, 32)]
            let random = ImageEncoder(EncoderConfig(), seed: UInt64(seed))
            encoders.append(("untrained CNN", random.encode(images), random.config.features))
            for m in settings.methods {
                var c = ContrastiveConfig(method: m)
                c.epochs = settings.epochs; c.seed = UInt64(seed)
                let trainer = ContrastiveTrainer(config: c)
                let records = try trainer.fit(pool)
                seconds[m.rawValue, default: []].append(records.last!.seconds)
                progress(String(format: "%@ seed %d: loss %.3f → %.3f in %.0f s", m.rawValue, seed, records.first!.loss, records.last!.loss, records.last!.seconds))
                encoders.append(("\(m.rawValue) CNN", trainer.encoder.encode(images), c.encoder.features))
            }
            for n in settings.labelsPerClass {
                let chosen = split.labelled(perClass: n, seed: UInt64(seed))
                var withSupervised = encoders
                let sup = try supervised(images, labels: digits.labels, chosen: chosen, seed: UInt64(seed))
                withSupervised.append(("supervised CNN (same labels)", sup.encode(images), sup.config.features))
                for (name, X, d) in withSupervised {
                    func pick(_ idx: [Int]) -> [Float] { idx.flatMap { X[($0 * d)..<(($0 + 1) * d)] } }
                    let r = FeatureProbe.evaluate(train: pick(chosen), trainLabels: chosen.map { digits.labels[$0] },
                                                  test: pick(split.test), testLabels: split.test.map { digits.labels[$0] }, features: d, classes: 10)
                    rows.append(Row(features: name, labelsPerClass: n, seed: seed, linear: r.linearAccuracy, knn: r.knnAccuracy))
                }
            }
            progress("seed \(seed) done")
        }
        var csv = "features,labels_per_class,seed,linear_accuracy,knn_accuracy\n"
        for r in rows { csv += "\"\(r.features)\",\(r.labelsPerClass),\(r.seed),\(r.linear),\(r.knn)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("contrastive.csv"))
        try AtomicFile.write(markdown(rows, seconds: seconds, total: Clock.now() - t0), to: output.appendingPathComponent("contrastive.md"))
    }

    /// The same CNN trained with cross-entropy on the chosen labelled images (with the same
    /// augmentations), its classifier dropped.
    func supervised(_ images: Tensor, labels: [Int], chosen: [Int], seed: UInt64) throws -> ImageEncoder {
        let encoder = ImageEncoder(EncoderConfig(), seed: seed)
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("supervised-head"))
        let classifier = Linear(encoder.config.features, 10, std: 0.01, rng: &rng)
        let params = encoder.backbone.parameters.filter(\.requiresGrad) + classifier.parameters
        let optimizer = AdamW(groups: ParameterGroup.standard(params, weightDecay: 1e-4), learningRate: 2e-3)
        let schedule = WarmupCosineSchedule(peak: 2e-3, minimum: 2e-5, warmupSteps: 20, totalSteps: settings.supervisedSteps)
        let B = min(64, chosen.count)
        let x = Tensor(uninitialized: [B, 1, 8, 8])
        var data = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("supervised-data"))
        let augment = ImageAugmentation()
        for step in 0..<settings.supervisedSteps {
            let pick = (0..<B).map { _ in chosen[data.nextInt(below: chosen.count)] }
            for (r, i) in pick.enumerated() { (x.data + r * 64).update(from: images.data + i * 64, count: 64) }
            let v = augment.apply(x, rng: &data)
            optimizer.learningRate = schedule.learningRate(at: step)
            let logits = classifier(encoder.features(v, context: .training(rng: nil)))
            let loss = logits.crossEntropy(targets: pick.map { Int32(labels[$0]) })
            loss.backward()
            optimizer.step(); optimizer.zeroGrad()
        }
        return encoder
    }

    func markdown(_ rows: [Row], seconds: [String: [Double]], total: Double) -> String {
        let names = rows.reduce(into: [String]()) { if !$0.contains($1.features) { $0.append($1.features) } }
        func cell(_ name: String, _ n: Int, _ v: KeyPath<Row, Double>) -> String {
            let xs = rows.filter { $0.features == name && $0.labelsPerClass == n }.map { $0[keyPath: v] }
            let m = xs.reduce(0, +) / Double(max(1, xs.count))
            let sd = xs.count > 1 ? (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot() : 0
            return String(format: "%.3f ± %.3f", m, sd)
        }
        let ns = settings.labelsPerClass
        func header() -> String {
            "| features | " + ns.map { $0 == 0 ? "all labels" : "\($0) / class" }.joined(separator: " | ") + " |\n|---|" + ns.map { _ in "---:|" }.joined() + "\n"
        }
        var md = """
        # Contrastive learning on the digits

        Made by `tllm experiment contrastive` on \(CPUFeatures.modelName), \(Threading.count) threads, in \(String(format: "%.1f", total / 60)) minutes.
        Data: the 1,797 8×8 digits (÷ 16), a stratified split (seed 0): 30% test, 70% pool. Contrastive encoders train on
        the pool without labels (CNN: 32 → 64 → 64 channels with batch norm, 64 features; projection head 64 → 64 → 32;
        \(settings.epochs) epochs, batch 256, τ = 0.2, AdamW 2e-3 with cosine decay; MoCo: queue 1024, momentum 0.99;
        DIM: the global code against all 16 positions of the last 4×4 feature map (1×1 projection), JSD estimator;
        two views each: shift ±1 px, rotation ±15°, intensity ×[0.8, 1.2], noise 0.05, 3×3 cutout). Then n labelled
        pool images per class train a linear probe (logistic regression, C = 1, standardized) and a k-NN vote (cosine,
        k = 5) on the frozen features; accuracy on the test images, mean ± std over seeds
        \(settings.seeds.map(String.init).joined(separator: ", ")) (the seed draws the encoder's initialisation and
        augmentations and the labelled images). "Supervised CNN": the same backbone trained with cross-entropy on the same
        n labels per class (\(settings.supervisedSteps) steps, same augmentations), classifier dropped.

        ## Linear probe

        \(header())
        """
        for name in names { md += "| \(name) | " + ns.map { cell(name, $0, \.linear) }.joined(separator: " | ") + " |\n" }
        md += "\n## k-NN (k = 5, cosine)\n\n" + header()
        for name in names { md += "| \(name) | " + ns.map { cell(name, $0, \.knn) }.joined(separator: " | ") + " |\n" }
        md += "\nContrastive training time per run (s): " + seconds.keys.sorted().map { k in
            String(format: "%@ %.0f", k, seconds[k]!.reduce(0, +) / Double(seconds[k]!.count))
        }.joined(separator: ", ") + ".\n"
        return md
    }
}
