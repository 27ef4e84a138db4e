import Foundation
import TLLMCore

/// The contrastive method that trains an encoder.
public enum ContrastiveMethod: String, Codable, Sendable, CaseIterable {
    /// NT-Xent over two augmented views, all other 2N − 2 views as negatives (Chen et al., 2020).
    case simclr
    /// A momentum key encoder and a queue of keys as negatives (He et al., 2020).
    case moco
    /// InfoNCE one way: view 1 picks its view 2 among the batch's (van den Oord et al., 2018).
    case infonce
    /// Binary NCE: the true pair against `noiseSamples` mismatched pairs (Gutmann & Hyvärinen, 2010).
    case nce
    /// Deep InfoMax, local objective (Hjelm et al., 2019): the global code of an image against
    /// every position of its own feature map (positives) and of the others' (negatives), with the
    /// Jensen–Shannon estimator. One view per image; needs the CNN encoder.
    case dim
}

/// Everything that decides a contrastive run (saved as `contrastive.json`).
public struct ContrastiveConfig: Codable, Sendable, Equatable {
    public var method: ContrastiveMethod = .simclr
    public var encoder = EncoderConfig()
    public var augmentation = ImageAugmentation()
    public var epochs = 100
    public var batch = 256
    public var temperature: Float = 0.2
    /// MoCo: keys in the queue (a multiple of the batch).
    public var queue = 1024
    /// MoCo: key encoder momentum m in θk ← m·θk + (1 − m)·θq.
    public var momentum: Float = 0.99
    /// NCE: noise pairs per datum.
    public var noiseSamples = 16
    public var learningRate: Float = 2e-3
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 1

    public init(method: ContrastiveMethod = .simclr) { self.method = method }

    /// A one-line error for settings that cannot work.
    public func validate(samples: Int) throws {
        guard epochs >= 1, batch >= 2 else { throw TLLMError("contrastive: --epochs must be ≥ 1 and --batch ≥ 2 (got \(epochs), \(batch))") }
        guard batch <= samples else { throw TLLMError("contrastive: --batch \(batch) is larger than the \(samples) training images") }
        guard temperature > 0, temperature.isFinite else { throw TLLMError("contrastive: --temperature must be > 0 (got \(temperature))") }
        guard learningRate > 0, learningRate.isFinite else { throw TLLMError("contrastive: --lr must be > 0 (got \(learningRate))") }
        if method == .moco {
            guard momentum >= 0, momentum < 1 else { throw TLLMError("contrastive: --momentum must be in [0, 1) (got \(momentum))") }
            guard queue >= batch, queue % batch == 0 else {
                throw TLLMError("contrastive: --queue \(queue) must be a positive multiple of --batch \(batch)")
            }
        }
        if method == .dim && encoder.kind != .cnn { throw TLLMError("contrastive: --method dim needs --encoder cnn (it contrasts positions of the feature map)") }
        if method == .nce { guard noiseSamples >= 1, noiseSamples < batch else { throw TLLMError("contrastive: NCE needs 1 ≤ noise samples < --batch") } }
    }
}

/// Trains an ``ImageEncoder`` with one ``ContrastiveMethod`` on unlabelled images: AdamW with a
/// cosine schedule, a fresh shuffle and fresh augmentations every epoch, all from the seed.
public final class ContrastiveTrainer {
    public struct EpochRecord: Codable, Sendable {
        public var epoch: Int
        public var loss: Double
        public var seconds: Double
    }

    public let config: ContrastiveConfig
    public let encoder: ImageEncoder
    /// MoCo's momentum encoder (no gradient; the EMA of `encoder`) and its queue.
    public let keyEncoder: ImageEncoder?
    public let queue: KeyQueue?
    /// MoCo: this step's keys, enqueued after the optimizer step.
    var pendingKeys: Tensor?
    /// DIM: a 1×1 projection of the local features to the global code's size (training only).
    public let localProjection: Linear?

    public init(config: ContrastiveConfig) {
        self.config = config
        encoder = ImageEncoder(config.encoder, seed: config.seed)
        if config.method == .moco {
            let k = ImageEncoder(config.encoder, seed: config.seed)
            k.copyParameters(from: encoder)
            for p in k.parameters { p.requiresGrad = false }
            keyEncoder = k
            var rng = RandomGenerator(seed: config.seed, stream: RandomGenerator.streamID("moco-queue"))
            queue = KeyQueue(capacity: config.queue, dimension: config.encoder.projection, rng: &rng)
        } else {
            keyEncoder = nil; queue = nil
        }
        if config.method == .dim {
            var rng = RandomGenerator(seed: config.seed, stream: RandomGenerator.streamID("dim-local"))
            localProjection = Linear(config.encoder.features, config.encoder.projection, std: (1 / Float(config.encoder.features)).squareRoot(), rng: &rng)
        } else {
            localProjection = nil
        }
    }

    /// Trains on `images` `[N, C, H, W]` for `config.epochs`; `progress` sees each epoch's record.
    public func fit(_ images: Tensor, progress: ((EpochRecord) -> Void)? = nil) throws -> [EpochRecord] {
        let c = config
        try c.validate(samples: images.shape[0])
        let N = images.shape[0], per = images.count / N
        let stepsPerEpoch = N / c.batch                      // drop the last partial batch (BN and NT-Xent want full ones)
        let trainable = encoder.parameters.filter(\.requiresGrad) + (localProjection?.parameters ?? [])
        let optimizer = AdamW(groups: ParameterGroup.standard(trainable, weightDecay: c.weightDecay),
                              learningRate: c.learningRate)
        let schedule = WarmupCosineSchedule(peak: c.learningRate, minimum: c.learningRate / 100, warmupSteps: stepsPerEpoch,
                                            totalSteps: c.epochs * stepsPerEpoch)
        var order = RandomGenerator(seed: c.seed, stream: RandomGenerator.streamID("contrastive-order"))
        var augment = RandomGenerator(seed: c.seed, stream: RandomGenerator.streamID("contrastive-augment"))
        var records: [EpochRecord] = []
        let t0 = Clock.now()
        var step = 0
        let batch = Tensor(uninitialized: [c.batch] + Array(images.shape.dropFirst()))
        for epoch in 1...c.epochs {
            let perm = order.permutation(N)
            var total = 0.0
            for s in 0..<stepsPerEpoch {
                for (r, i) in perm[(s * c.batch)..<((s + 1) * c.batch)].enumerated() {
                    (batch.data + r * per).update(from: images.data + i * per, count: per)
                }
                let (v1, v2) = c.augmentation.views(batch, rng: &augment)
                optimizer.learningRate = schedule.learningRate(at: step)
                let loss = self.loss(v1, v2, rng: &augment)
                let value = Double(loss.item)
                guard value.isFinite else { throw TLLMError("contrastive: the loss became \(value) at epoch \(epoch); try a lower --lr or a higher --temperature") }
                total += value
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
                afterStep(v2)
                step += 1
            }
            let r = EpochRecord(epoch: epoch, loss: total / Double(stepsPerEpoch), seconds: Clock.now() - t0)
            records.append(r)
            progress?(r)
        }
        return records
    }

    /// The method's loss on one pair of views.
    func loss(_ v1: Tensor, _ v2: Tensor, rng: inout RandomGenerator) -> Tensor {
        let ctx = ForwardContext.training(rng: nil)
        let tau = config.temperature
        switch config.method {
        case .simclr:
            return ContrastiveLoss.ntXent(encoder.embed(v1, context: ctx), encoder.embed(v2, context: ctx), temperature: tau)
        case .infonce:
            let z1 = encoder.embed(v1, context: ctx).l2Normalized(), z2 = encoder.embed(v2, context: ctx).l2Normalized()
            let logits = z1.matmul(z2, transposeOther: true).scaled(by: 1 / tau)             // [N, N]: row i's positive is column i
            return ContrastiveLoss.infoNCE(logits: logits, positive: (0..<v1.shape[0]).map(Int32.init))
        case .nce:
            let n = v1.shape[0], k = config.noiseSamples
            let z1 = encoder.embed(v1, context: ctx).l2Normalized(), z2 = encoder.embed(v2, context: ctx).l2Normalized()
            let data = (z1 * z2).sum(axis: -1).scaled(by: 1 / tau)                            // [N]
            // Noise: view 2 of another image, k distinct shifts of the batch (never the image itself).
            let shifts = Array(rng.permutation(n - 1).prefix(k)).map { $0 + 1 }
            let noise = Tensor.concat(shifts.map { sh in
                (z1 * z2.gatherRows((0..<n).map { Int32(($0 + sh) % n) })).sum(axis: -1).reshaped([n, 1])
            }, axis: 1).scaled(by: 1 / tau)                                                    // [N, k]
            return ContrastiveLoss.nce(dataScores: data, noiseScores: noise)
        case .dim:
            let local = encoder.localFeatures(v1, context: ctx)!                                // [N, F, h, w]
            let (n, f, P) = (local.shape[0], local.shape[1], local.shape[2] * local.shape[3])
            let global = encoder.head(local.globalAvgPool(), context: ctx)                       // [N, D]
            let l = localProjection!(local.reshaped([n, f, P]).transposedLastTwo().reshaped([n * P, f])) // [N·P, D]
            let S = global.matmul(l, transposeOther: true)                                     // [N, N·P]: global i · local (j, p)
            return ContrastiveLoss.jsdLocal(scores: S, positionsPerImage: P)
        case .moco:
            let q = encoder.embed(v1, context: ctx)
            let k = Autograd.withNoGrad { keyEncoder!.embed(v2, context: ctx) }
            pendingKeys = k
            return ContrastiveLoss.moco(queries: q, keys: k, queue: queue!.keys, temperature: tau)
        }
    }

    /// MoCo: the key encoder moves toward the query encoder, then this batch's keys join the queue.
    func afterStep(_ v2: Tensor) {
        guard let keyEncoder, let queue, let keys = pendingKeys else { return }
        keyEncoder.updateMovingAverage(toward: encoder, momentum: config.momentum)
        queue.enqueue(keys)
        pendingKeys = nil
    }
}
