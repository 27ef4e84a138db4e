import Foundation
import TLLMContrastive
import TLLMCore
import TLLMData
import TLLMDictionary
import TLLMTraining

extension ContrastiveMethod: ArgumentChoice {}
extension EncoderKind: ArgumentChoice {}

/// Images for the contrastive commands: the bundled digits (÷ 16) or a CSV of 8×8 images.
func contrastiveImages(_ input: VectorDataOptions) throws -> (images: Tensor, labels: [Int]) {
    let v = try input.load()
    guard v.features == 64 else {
        throw TLLMError("contrastive learning here reads 8×8 images: 64 values per row, not \(v.features)", file: input.data)
    }
    return (Tensor(shape: [v.count, 1, 8, 8], values: v.values), v.labels)
}

struct ContrastiveCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "contrastive",
        summary: "train an image encoder with a contrastive method (SimCLR, MoCo, InfoNCE, NCE) on unlabelled digits",
        usage: "[--method simclr|moco|infonce|nce] [--data digits|FILE.csv] [--encoder cnn|mlp] [--epochs 100] [--batch 256] [--temperature 0.2] [--queue 1024] [--momentum 0.99] [--lr 2e-3] [--seed 1] --out RUN [--json]",
        discussion: """
        Trains on the training pool of a fixed stratified split (70%; labels unused) and never sees the 30% test
        images that `tllm contrastive probe` scores on. Two augmented views per image: shift ±1 px, rotation ±15°,
        intensity ×[0.8, 1.2], Gaussian noise 0.05, a 3×3 cutout. Writes RUN/model.safetensors, contrastive.json,
        metrics.csv.
        """)

    @Option("--method", "M", help: "contrastive objective") var method = ContrastiveMethod.simclr
    let input = VectorDataOptions()
    @Option("--encoder", "E", help: "backbone") var encoder = EncoderKind.cnn
    @Option("--width", "C", help: "base width of the backbone (features = 2C)", .positive) var width = 32
    @Option("--epochs", "N", help: "passes over the training pool", .positive) var epochs = 100
    @Option("--batch", "B", help: "images per step (2B views)", .positive) var batch = 256
    @Option("--temperature", "T", help: "softmax temperature τ", .positive) var temperature: Float = 0.2
    @Option("--queue", "K", help: "moco: keys in the queue (a multiple of --batch)", .positive) var queue = 1024
    @Option("--momentum", "M", help: "moco: key encoder momentum", .unitInterval) var momentum: Float = 0.99
    @Option("--noise", "K", help: "nce: noise pairs per image", .positive) var noise = 16
    @Option("--lr", "LR", help: "peak learning rate (AdamW, cosine)", .positive) var lr: Float = 2e-3
    @Option("--seed", "S", help: "initialisation, order and augmentations") var seed: UInt64 = 1
    @Flag("--no-augmentation", help: "identical views (for timing against a peer; the loss is then trivial)") var noAugmentation: Bool
    @Option("--out", "RUN", help: "a new or empty folder") var out: String?
    let output = OutputOptions()
    let runtime = RuntimeOptions()

    func run() throws {
        guard let out else { throw CLIError("tllm contrastive: --out RUN is required") }
        let run = URL(fileURLWithPath: out)
        try RunFolder.checkEmptyOrNew(run)
        let (images, labels) = try contrastiveImages(input)
        let split = FewLabelSplit(labels: labels.isEmpty ? [Int](repeating: 0, count: images.shape[0]) : labels)
        let pool = Tensor(shape: [split.pool.count, 1, 8, 8], values: split.pool.flatMap { i in Array(UnsafeBufferPointer(start: images.data + i * 64, count: 64)) })
        var c = ContrastiveConfig(method: method)
        c.encoder = EncoderConfig(kind: encoder); c.encoder.base = width
        c.epochs = epochs; c.batch = batch; c.temperature = temperature; c.queue = queue; c.momentum = momentum
        c.noiseSamples = noise; c.learningRate = lr; c.seed = seed
        if noAugmentation { c.augmentation = .none }
        let trainer = ContrastiveTrainer(config: c)
        let progress = ProgressDisplay()
        let records = try trainer.fit(pool) { r in progress.update(String(format: "epoch %d/%d  loss %.4f  %.1fs", r.epoch, c.epochs, r.loss, r.seconds)) }
        progress.finish()
        try EncoderStore.save(trainer, records: records, to: run)
        let last = records.last!
        if output.json {
            printJSON(["method": method.rawValue, "encoder": encoder.rawValue, "epochs": epochs, "final_loss": last.loss,
                       "seconds": last.seconds, "epoch_seconds": records.map(\.seconds).enumerated().map { i, s in s - (i > 0 ? records[i - 1].seconds : 0) },
                       "images": pool.shape[0], "out": run.path])
        } else {
            print(String(format: "%@ on %d images, %d epochs: loss %.4f → %.4f in %.1f s; saved %@", method.rawValue, pool.shape[0], epochs,
                         records.first!.loss, last.loss, last.seconds, run.path))
        }
    }
}

/// Which features `contrastive probe` scores.
enum ProbeFeatures: String, ArgumentChoice { case model, pixels, pca, random }

struct ContrastiveProbeCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "contrastive probe",
        summary: "linear-probe and k-NN accuracy of frozen features with few labels per class",
        usage: "--model RUN | --features pixels|pca|random [--labels-per-class 10] [--seed 1] [--data digits|FILE.csv] [--json]",
        discussion: "The same split as `tllm contrastive`: labels from the 70% pool (n per class, drawn with --seed),\naccuracy on the 30% test images. pca: 32 components of the pool; random: an untrained CNN encoder.")

    @Option("--model", "RUN", help: "a run of tllm contrastive") var model: String?
    @Option("--features", "F", help: "baseline features instead of a model") var features: ProbeFeatures?
    @Option("--labels-per-class", "N", help: "labelled images per class (0 = all of the pool)", .nonNegative) var perClass = 10
    @Option("--seed", "S", help: "which labelled images") var seed: UInt64 = 1
    let input = VectorDataOptions()
    let output = OutputOptions()
    let runtime = RuntimeOptions()

    func run() throws {
        if (model == nil) == (features == nil || features == .model) { throw CLIError("tllm contrastive probe: give --model RUN or --features pixels|pca|random") }
        let (images, labels) = try contrastiveImages(input)
        guard !labels.isEmpty else { throw CLIError("tllm contrastive probe: the data has no labels (--label first)") }
        let split = FewLabelSplit(labels: labels)
        let chosen = split.labelled(perClass: perClass, seed: seed)
        let (X, d) = try featureMatrix(images, pool: split.pool)
        func rows(_ idx: [Int]) -> [Float] { idx.flatMap { X[($0 * d)..<(($0 + 1) * d)] } }
        let classes = (labels.max() ?? 0) + 1
        let r = FeatureProbe.evaluate(train: rows(chosen), trainLabels: chosen.map { labels[$0] }, test: rows(split.test),
                                      testLabels: split.test.map { labels[$0] }, features: d, classes: classes)
        if output.json { printJSON(encodable: r); return }
        print(String(format: "%d labels per class (%d labelled, %d test): linear probe %.3f, k-NN %.3f",
                     perClass, chosen.count, split.test.count, r.linearAccuracy, r.knnAccuracy))
    }

    func featureMatrix(_ images: Tensor, pool: [Int]) throws -> ([Float], Int) {
        if let model {
            let (_, encoder) = try EncoderStore.load(URL(fileURLWithPath: model))
            return (encoder.encode(images), encoder.config.features)
        }
        switch features! {
        case .pixels, .model: return (images.values, 64)
        case .random: let e = ImageEncoder(EncoderConfig(), seed: seed); return (e.encode(images), e.config.features)
        case .pca:
            let all = Matrix(rows: images.shape[0], cols: 64, values: images.values)
            let pca = PCA(all.rows(pool), components: 32)                   // fitted on the pool only
            return (pca.transform(all).values, 32)
        }
    }
}
