import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

/// Writes what a peer framework needs to replay our training exactly, for `bench/pytorch_check.py`:
/// the initial weights, the token batches, the logits/loss/gradients of the first batch, and the
/// losses of `steps` AdamW steps (constant learning rate, β = 0.9/0.95, weight decay 0.1 on
/// matrices, clipping at 1).
public enum NumericsDump {
    public static func run(config: ModelConfig, batch: Int, steps: Int, learningRate: Float = 1e-3, seed: UInt64 = 1, to dir: URL) throws {
        BLASRuntime.prepare()
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let model = try GPTModel(config: config, seed: seed)
        try ModelStore.save(model.namedParameters, config: config, to: dir)
        var rng = RandomGenerator(seed: seed, stream: 99)
        let T = config.context
        var all: [Int32] = []
        var batches: [([Int32], [Int32])] = []
        for _ in 0..<steps {
            let seq = (0..<(batch * (T + 1))).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
            all += seq
            var x: [Int32] = [], y: [Int32] = []
            for b in 0..<batch {
                let s = b * (T + 1)
                x.append(contentsOf: seq[s..<(s + T)])
                y.append(contentsOf: seq[(s + 1)..<(s + T + 1)])
            }
            batches.append((x, y))
        }
        try TokenShard.write(all, vocabularySize: config.vocabSize, to: dir.appendingPathComponent("batches.bin"))
        // First batch: logits of the first two sequences, loss, every gradient.
        let logits = model.logits(batches[0].0, batch: batch, length: T, context: .inference)
        let loss = logits.crossEntropy(targets: batches[0].1)
        let firstLoss = loss.item
        let keep = min(2, batch) * T * config.vocabSize
        let head = Tensor(shape: [min(2, batch), T, config.vocabSize], values: Array(UnsafeBufferPointer(start: logits.data, count: keep)))
        loss.backward()
        var grads: [(String, Tensor)] = [("logits", head)]
        for (n, p) in model.namedParameters { grads.append(("grad." + n, p.grad!.copy())) }
        try withExtendedLifetime(grads) {
            try SafeTensors.write(grads.map { SafeTensors.Entry(name: $0.0, shape: $0.1.shape, values: UnsafeBufferPointer(start: $0.1.data, count: $0.1.count)) },
                                  to: dir.appendingPathComponent("first-batch.safetensors"))
        }
        for p in model.parameters { p.zeroGrad() }
        // Training.
        let opt = AdamW(groups: model.parameterGroups(weightDecay: 0.1), learningRate: learningRate, beta1: 0.9, beta2: 0.95, epsilon: 1e-8)
        var losses: [Double] = []
        for (x, y) in batches {
            let l = model.loss(x, targets: y, batch: batch, length: T, context: .inference)
            losses.append(Double(l.item))
            l.backward()
            GradientClipping.clip(opt.parameters, maxNorm: 1)
            opt.step()
            opt.zeroGrad()
        }
        let info: [String: Any] = ["batch": batch, "context": T, "steps": steps, "learning_rate": Double(learningRate),
                                   "first_loss": Double(firstLoss), "losses": losses]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys]),
                             to: dir.appendingPathComponent("run.json"))
    }
}
