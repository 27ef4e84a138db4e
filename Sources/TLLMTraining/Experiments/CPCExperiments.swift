import Foundation
import TLLMContrastive
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer

/// `tllm experiment cpc`: contrastive predictive coding on text. A small GPT's hidden state at
/// position t (the context) predicts, through one linear map per k, the token embedding at
/// t + k, against the other positions of the batch (InfoNCE). Measured: on held-out plays, how
/// often the true future is the top-scored of the batch's candidates, for k = 1…4, before and
/// after training; and the same for a GPT trained only on next-token prediction, read with
/// freshly fitted predictors.
public struct CPCExperiments {
    public struct Settings: Codable, Sendable {
        public var steps = 2000
        public var batch = 16
        public var length = 64
        public var positionsPerSequence = 16
        public var horizons = [1, 2, 3, 4]
        public var seed: UInt64 = 1
        public init() {}
    }

    public var settings: Settings
    public init(settings: Settings) { self.settings = settings }

    /// Writes `cpc.md` and `cpc.csv` into `output`.
    public func run(output: URL, progress: (String) -> Void) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let s = settings, t0 = Clock.now()
        let tokenizer = try VocabularyFiles.load("vocab/tllm-2k.json")
        let data = try TokenizedCorpus.make(try Corpus.load(nil), tokenizer: tokenizer)
        let train = try CLMBatcher(tokens: data.train, batch: s.batch, length: s.length)
        let held = try CLMBatcher(tokens: data.validation, batch: s.batch, length: s.length)
        var config = ModelConfig(vocabSize: tokenizer.vocabularySize, context: s.length, layers: 2, dModel: 64, heads: 2)
        config.mlpHidden = 4 * config.dModel
        let gpt = try GPTModel(configuration: config, seed: s.seed)
        var rng = RandomGenerator(seed: s.seed, stream: RandomGenerator.streamID("cpc-predictors"))
        let predictors = s.horizons.map { _ in Linear(config.dModel, config.dModel, std: 0.05, rng: &rng) }
        var rows: [(String, Int, Double)] = []
        for (k, a) in zip(s.horizons, accuracy(gpt, predictors, held)) { rows.append(("untrained", k, a)) }
        let losses = trainCPC(gpt, predictors, train, updateModel: true)
        progress(String(format: "CPC loss %.3f → %.3f over %d steps", losses.first!, losses.last!, s.steps))
        for (k, a) in zip(s.horizons, accuracy(gpt, predictors, held)) { rows.append(("CPC-trained GPT", k, a)) }
        // A next-token GPT of the same size and steps, read with predictors fitted on frozen features.
        let lm = try GPTModel(configuration: config, seed: s.seed)
        let optimizer = AdamW(groups: ParameterGroup.standard(lm.parameters, weightDecay: 0), learningRate: 2e-3)
        var order = RandomGenerator(seed: s.seed, stream: RandomGenerator.streamID("cpc-lm"))
        for _ in 0..<s.steps {
            let (x, y) = train.next(&order)
            let loss = lm.loss(x, targets: y, batch: s.batch, length: s.length, context: .training(rng: nil))
            loss.backward(); optimizer.step(); optimizer.zeroGrad()
        }
        var rng2 = RandomGenerator(seed: s.seed, stream: RandomGenerator.streamID("cpc-probe-predictors"))
        let probes = s.horizons.map { _ in Linear(config.dModel, config.dModel, std: 0.05, rng: &rng2) }
        _ = trainCPC(lm, probes, train, updateModel: false)
        for (k, a) in zip(s.horizons, accuracy(lm, probes, held)) { rows.append(("next-token GPT, predictors only", k, a)) }
        var csv = "encoder,k,heldout_top1\n"
        for r in rows { csv += "\"\(r.0)\",\(r.1),\(r.2)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("cpc.csv"))
        let chance = 1 / Double(s.batch * s.positionsPerSequence)
        var md = """
        # Contrastive predictive coding on text

        Made by `tllm experiment cpc` on \(CPUFeatures.modelName), \(Threading.count) threads, in \(String(format: "%.1f", (Clock.now() - t0) / 60)) minutes.
        A GPT (2 layers, d 64, context \(s.length), the 2,048-token vocabulary) on Shakespeare's training plays: its last hidden
        state at t predicts the token embedding at t + k through W_k, InfoNCE over the \(s.batch)×\(s.positionsPerSequence) positions of a
        batch (\(s.steps) AdamW steps, 2e-3). Held-out plays: share of positions whose true future is the top-scored of the
        batch's \(s.batch * s.positionsPerSequence) candidates (chance \(String(format: "%.4f", chance)); repeated tokens make some
        candidates identical, so 1.0 is out of reach). The last row trains the same GPT on next-token prediction for as many
        steps, freezes it, and fits only the W_k.

        | encoder | \(s.horizons.map { "k = \($0)" }.joined(separator: " | ")) |
        |---|\(s.horizons.map { _ in "---:|" }.joined())

        """
        for name in ["untrained", "CPC-trained GPT", "next-token GPT, predictors only"] {
            md += "| \(name) | " + rows.filter { $0.0 == name }.map { String(format: "%.3f", $0.2) }.joined(separator: " | ") + " |\n"
        }
        try AtomicFile.write(md, to: output.appendingPathComponent("cpc.md"))
    }

    /// Positions sampled per sequence (at least max k before the end): contexts and futures for each k.
    func sample(_ gpt: GPTModel, _ x: [Int32], rng: inout RandomGenerator, context: ForwardContext) -> (Tensor, [Int32], [[Int32]], [[Int32]]) {
        let s = settings, B = s.batch, T = s.length, kMax = s.horizons.max()!
        let h = gpt.hidden(x, batch: B, length: T, context: context, upTo: gpt.blockCount)      // [B·T, d]
        var at: [Int32] = []
        for b in 0..<B { for _ in 0..<s.positionsPerSequence { at.append(Int32(b * T + rng.nextInt(below: T - kMax))) } }
        let futures = s.horizons.map { k in at.map { x[Int($0) + k] } }
        return (h, at, futures, [])
    }

    func trainCPC(_ gpt: GPTModel, _ predictors: [Linear], _ data: CLMBatcher, updateModel: Bool) -> [Double] {
        let s = settings
        let params = (updateModel ? gpt.parameters : []) + predictors.flatMap(\.parameters)
        let optimizer = AdamW(groups: ParameterGroup.standard(params, weightDecay: 0), learningRate: 2e-3)
        var rng = RandomGenerator(seed: s.seed, stream: RandomGenerator.streamID("cpc-train"))
        var losses: [Double] = []
        for _ in 0..<s.steps {
            let (x, _) = data.next(&rng)
            let (h, at, futures, _) = sample(gpt, x, rng: &rng, context: .training(rng: nil))
            let c = updateModel ? h.gatherRows(at) : h.gatherRows(at).detached()
            let E = updateModel ? gpt.tokenEmbedding.weight : gpt.tokenEmbedding.weight.detached()
            var total: Tensor? = nil
            for (i, _) in s.horizons.enumerated() {
                let l = ContrastiveLoss.cpc(contexts: c, futures: E.gatherRows(futures[i]), predictor: predictors[i])
                total = total.map { $0 + l } ?? l
            }
            let loss = total!.scaled(by: 1 / Float(s.horizons.count))
            losses.append(Double(loss.item))
            loss.backward(); optimizer.step(); optimizer.zeroGrad()
        }
        return losses
    }

    func accuracy(_ gpt: GPTModel, _ predictors: [Linear], _ data: CLMBatcher) -> [Double] {
        let s = settings
        var rng = RandomGenerator(seed: 7, stream: RandomGenerator.streamID("cpc-heldout"))
        var right = [Double](repeating: 0, count: s.horizons.count), total = 0.0
        Autograd.withNoGrad {
            for _ in 0..<8 {
                let (x, _) = data.next(&rng)
                let (h, at, futures, _) = sample(gpt, x, rng: &rng, context: .inference)
                let c = h.gatherRows(at)
                let N = at.count
                for i in s.horizons.indices {
                    let logits = predictors[i](c).matmul(gpt.tokenEmbedding.weight.gatherRows(futures[i]), transposeOther: true)
                    for r in 0..<N {
                        var best = 0
                        for j in 1..<N where logits.data[r * N + j] > logits.data[r * N + best] { best = j }
                        if futures[i][best] == futures[i][r] { right[i] += 1 }                   // an identical token counts
                    }
                }
                total += Double(N)
            }
        }
        return right.map { $0 / total }
    }
}
