import Foundation
import TLLMCore
import TLLMModels

/// Peak resident memory of this process (`getrusage`), in bytes.
public func peakRSSBytes() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024
}

/// Times training steps of a GPT on random tokens: the `tllm bench train` measurement.
public enum TrainBenchmark {
    public struct Result: Codable, Sendable {
        public var parameters: Int
        public var nonEmbeddingParameters: Int
        public var tokensPerStep: Int
        public var steps: Int
        public var stepSeconds: Double
        public var tokensPerSecond: Double
        public var gflops: Double
        public var peakGEMMGflops: Double
        public var mfu: Double
        public var peakRSSBytes: Int
        public var threads: Int
        public var core: String
        public var losses: [Float]
        /// Fresh tensor buffers allocated during the timed steps (0 once warmed up).
        public var bufferAllocationsPerStep: Double
        /// Minor page faults per timed step (fresh memory being touched).
        public var pageFaultsPerStep: Double
        /// Whether the batch was split across the cores (``DataParallelGPT``).
        public var dataParallel: Bool

        enum CodingKeys: String, CodingKey {
            case parameters, nonEmbeddingParameters = "non_embedding_parameters", tokensPerStep = "tokens_per_step", steps
            case stepSeconds = "step_seconds", tokensPerSecond = "tokens_per_s", gflops
            case peakGEMMGflops = "peak_gemm_gflops", mfu, peakRSSBytes = "peak_rss_bytes", threads, core, losses
            case bufferAllocationsPerStep = "buffer_allocations_per_step", pageFaultsPerStep = "page_faults_per_step", dataParallel = "data_parallel"
        }
    }

    /// Runs `warmup` untimed steps then `steps` timed ones (forward, backward, clip, AdamW).
    public static func run(config: ModelConfig, batch: Int, steps: Int, warmup: Int = 2, seed: UInt64 = 1,
                           peakGEMM: Double? = nil, dataParallel: Bool? = nil) throws -> Result {
        BLASRuntime.prepare()
        let model = try GPTModel(config: config, seed: seed)
        let opt = AdamW(groups: model.parameterGroups(weightDecay: 0.1), learningRate: 3e-4, beta1: 0.9, beta2: 0.95)
        var rng = RandomGenerator(seed: seed, stream: 77)
        let T = config.context
        let batches: [([Int32], [Int32])] = (0..<4).map { _ in
            let seq = (0..<(batch * (T + 1))).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
            var x: [Int32] = [], y: [Int32] = []
            for b in 0..<batch {
                let start: Int = b * (T + 1)
                x.append(contentsOf: seq[start..<(start + T)])
                y.append(contentsOf: seq[(start + 1)..<(start + T + 1)])
            }
            return (x, y)
        }
        let noDropout = ForwardContext.training(rng: nil)
        var losses: [Float] = []
        let dp = (dataParallel ?? DataParallelGPT.worthwhile(config, batch: batch)) ? DataParallelGPT(model: model) : nil
        func step(_ i: Int) {
            let (x, y) = batches[i % batches.count]
            if let dp {
                losses.append(Float(dp.accumulate(inputs: x, targets: y, batch: batch, length: T, scale: 1, context: noDropout)))
            } else {
                let loss = model.loss(x, targets: y, batch: batch, length: T, context: noDropout)
                losses.append(loss.item)
                loss.backward()
            }
            GradientClipping.clip(opt.parameters, maxNorm: 1)
            opt.step()
            opt.zeroGrad()
        }
        for i in 0..<warmup { step(i) }
        let allocs0 = BufferPool.shared.allocations
        var u0 = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u0)
        let t0 = Clock.now()
        for i in 0..<steps { step(warmup + i) }
        let dt = (Clock.now() - t0) / Double(max(1, steps))
        var u1 = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u1)
        let tokens = batch * T
        let flops = config.trainingFLOPsPerToken() * Double(tokens) / dt / 1e9
        let peak = peakGEMM ?? GEMMBenchmark.measure(label: "square 2048", m: 2048, n: 2048, k: 2048, minSeconds: 0.3).gflops
        return Result(parameters: config.parameters, nonEmbeddingParameters: config.nonEmbeddingParameters,
                      tokensPerStep: tokens, steps: steps, stepSeconds: dt, tokensPerSecond: Double(tokens) / dt,
                      gflops: flops, peakGEMMGflops: peak, mfu: flops / peak, peakRSSBytes: peakRSSBytes(),
                      threads: Threading.count, core: BLASRuntime.coreName, losses: losses,
                      bufferAllocationsPerStep: Double(BufferPool.shared.allocations - allocs0) / Double(max(1, steps)),
                      pageFaultsPerStep: Double(u1.ru_minflt - u0.ru_minflt) / Double(max(1, steps)), dataParallel: dp != nil)
    }
}
