import Foundation
import TLLMCore
import TLLMModels

/// Data parallelism across the cores for models whose matrices are too small to split well:
/// each core runs forward and backward on its share of the batch with serial kernels and
/// single-threaded BLAS, into its own replica's gradients (shared weights); the replicas'
/// gradients are then added into the model's, always in the same order.
public final class DataParallelGPT {
    public let model: GPTModel
    public let replica: GPTModel

    public init(model: GPTModel) {
        self.model = model
        replica = model.replica()
    }

    /// Whether data parallelism pays for this model: at least two threads, and a width (d ≤ 256)
    /// whose products do not keep two cores busy (measured with `tllm bench train`).
    public static func worthwhile(_ c: ModelConfig, batch: Int) -> Bool {
        Threading.count >= 2 && batch >= 2 && c.dModel <= 256
    }

    /// Forward and backward of one batch split in two; gradients land in `model`. Returns the mean
    /// loss. Worker 0 draws dropout from `context.rng`, worker 1 from a derived stream at the same
    /// position; afterwards `context.rng` is past both.
    public func accumulate(inputs x: [Int32], targets y: [Int32], batch B: Int, length T: Int, scale: Float,
                           context: ForwardContext) -> Double {
        let b0 = (B + 1) / 2, b1 = B - b0
        let dropout = context.rng
        var d1: RandomGenerator? = dropout.map { RandomGenerator(seed: $0.seed, stream: $0.stream ^ 0x5DEE_CE66_D) }
        if var g = d1, let p = dropout?.position { g.position = p; d1 = g }
        let contexts = [ForwardContext(training: context.training, rng: dropout), ForwardContext(training: context.training, rng: d1)]
        var losses = [Double](repeating: 0, count: 2)
        losses.withUnsafeMutableBufferPointer { out in
            Threading.parallelWorkers(2) { k in
                let m = k == 0 ? model : replica
                let lo = k == 0 ? 0 : b0 * T, n = k == 0 ? b0 : b1
                guard n > 0 else { return }
                let xs = Array(x[lo..<(lo + n * T)]), ys = Array(y[lo..<(lo + n * T)])
                let loss = m.loss(xs, targets: ys, batch: n, length: T, context: contexts[k])
                out[k] = Double(loss.item)
                loss.backward(seed: scale * Float(n) / Float(B))
            }
        }
        if var d = contexts[0].rng { d.position = max(d.position, contexts[1].rng?.position ?? 0); context.rng = d }
        addReplicaGradients()
        return (losses[0] * Double(b0) + losses[1] * Double(b1)) / Double(B)
    }

    /// Adds the replica's gradients into the model's (then drops the replica's).
    func addReplicaGradients() {
        for (p, q) in zip(model.parameters, replica.parameters) {
            guard let g = q.gradStorage else { continue }
            p.withGradBuffer { dst, acc in
                let src = g.pointer, n = p.count
                Parallel.forRanges(n, grain: 1 << 15) { r in
                    if acc { for i in r { dst[i] += src[i] } } else { for i in r { dst[i] = src[i] } }
                }
            }
            q.zeroGrad()
        }
    }
}
