import Foundation
import TLLMContrastive
import TLLMCore
import TLLMData
import TLLMDictionary
import TLLMModels
import TLLMTokenizer
import TLLMTraining

extension ContrastiveMethod: ArgumentChoice {}
extension EncoderKind: ArgumentChoice {}

/// `tllm contrastive --method`: the image methods of TLLMContrastive, and SimCSE on text.
enum ContrastiveChoice: String, ArgumentChoice {
    case simclr, moco, infonce, nce, dim, simcse
    /// The image method, nil for the text ones.
    var image: ContrastiveMethod? { ContrastiveMethod(rawValue: rawValue) }
}

/// `tllm contrastive --encoder`: the image backbones, or the BERT encoder of a text run.
enum EncoderChoice: String, ArgumentChoice {
    case cnn, mlp, bert
    var image: EncoderKind? { EncoderKind(rawValue: rawValue) }
}

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
        summary: "train an encoder contrastively: images (SimCLR, MoCo, InfoNCE, NCE, DIM on digits) or text (SimCSE on a corpus)",
        usage: "[--method simclr|moco|infonce|nce|dim] [--data digits|FILE.csv] [--encoder cnn|mlp] [--epochs 100] [--batch 256] [--temperature 0.2] [--queue 1024] [--momentum 0.99] [--lr 2e-3] [--seed 1] --out RUN [--json]\n"
            + "       --method simcse --model BERT_RUN [--data shakespeare|kjv|all|FILE|DIR] [--steps 100] [--batch 32] [--temperature 0.05] [--dropout 0.1] [--lr 1e-4] --out RUN",
        discussion: """
        Images: trains on the training pool of a fixed stratified split (70%; labels unused) and never sees the 30% test
        images that `tllm contrastive probe` scores on. Two augmented views per image: shift ±1 px, rotation ±15°,
        intensity ×[0.8, 1.2], Gaussian noise 0.05, a 3×3 cutout. Writes RUN/model.safetensors, contrastive.json,
        metrics.csv.
        Text (simcse): the BERT of BERT_RUN (e.g. from `tllm train --objective mlm`) encodes each sentence of the corpus
        (its speeches, verses or paragraphs) twice with dropout; the pair is the positive, the batch the negatives.
        Writes a model run (model.safetensors, config.json, tokenizer.json, metrics.csv) that `tllm finetune --model RUN
        --mode probe --pool mean` and the other model commands take.
        """)

    @Option("--method", "M", help: "contrastive objective") var method = ContrastiveChoice.simclr
    let input = VectorDataOptions()
    @Option("--encoder", "E", help: "backbone (bert: the --model run's encoder, for simcse)") var encoder = EncoderChoice.cnn
    @Option("--model", "RUN", help: "simcse: the BERT run to start from") var model: String?
    @Option("--steps", "N", help: "simcse: AdamW steps", .positive) var steps = 100
    @Option("--dropout", "P", help: "simcse: dropout while training (the augmentation)", .unitInterval) var dropout: Float = 0.1
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
        guard let method = method.image else { return try runText(run) }
        guard let encoder = encoder.image else { throw CLIError("tllm contrastive: --encoder bert is for --method simcse (images: cnn or mlp)") }
        if model != nil { throw CLIError("tllm contrastive: --model is for --method simcse (image encoders start from random weights)") }
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

extension ContrastiveCommand {
    /// SimCSE: the BERT of `--model` trained on the sentences of `--data` (a corpus), saved as a model run.
    func runText(_ run: URL) throws {
        guard let model else { throw CLIError("tllm contrastive --method simcse: --model BERT_RUN is required (the encoder to train)") }
        if $encoder.isSet && encoder != .bert { throw CLIError("tllm contrastive --method simcse: the encoder is the BERT of --model (--encoder bert)") }
        var s = SimCSETrainer.Settings()
        s.steps = steps; s.batch = $batch.isSet ? batch : 32; s.learningRate = $lr.isSet ? lr : 1e-4
        s.temperature = $temperature.isSet ? temperature : 0.05; s.dropout = dropout; s.seed = seed
        try s.validate()
        let encoder = try SimCSETrainer.loadEncoder(URL(fileURLWithPath: model), dropout: dropout)
        let corpus = try Corpus.load(input.$data.isSet ? input.data : "shakespeare")
        let sentences = SimCSETrainer.sentences(corpus)
        guard sentences.count >= 2 else {
            throw TLLMError("SimCSE needs at least 2 sentences (segments of ≥ 20 characters); this corpus has \(sentences.count)", file: corpus.source)
        }
        let progress = ProgressDisplay()
        let t0 = Clock.now()
        let losses = SimCSETrainer(settings: s).fit(encoder, sentences: sentences) { step, loss in
            progress.update(String(format: "step %d/%d  loss %.4f", step, s.steps, loss))
        }
        progress.finish()
        var config = encoder.0.config
        config.dropout = try ModelStore.readConfig(try ModelStore.resolve(URL(fileURLWithPath: model))).dropout
        try ModelStore.save(encoder.0.namedParameters, config: config, to: run, metadata: ["tllm_contrastive": "simcse"])
        try VocabularyFiles.writeJSON(encoder.1, to: run.appendingPathComponent("tokenizer.json"))
        try AtomicFile.write("step,loss\n" + losses.enumerated().map { "\($0 + 1),\($1)" }.joined(separator: "\n") + "\n",
                             to: run.appendingPathComponent("metrics.csv"))
        let seconds = Clock.now() - t0
        if output.json {
            printJSON(["method": "simcse", "encoder": "bert", "steps": s.steps, "sentences": sentences.count, "first_loss": losses.first!,
                       "final_loss": losses.last!, "seconds": seconds, "out": run.path])
        } else {
            print(String(format: "simcse on %d sentences of %@, %d steps: loss %.4f → %.4f in %.1f s; saved %@", sentences.count, corpus.name,
                         s.steps, losses.first!, losses.last!, seconds, run.path))
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
