import Foundation

/// Times individual ops (forward + backward) on transformer-sized tensors: where a training step's
/// non-matmul time goes (`tllm bench ops`).
public enum OpBenchmark {
    public struct Result: Codable, Sendable {
        public var op: String
        public var forwardMs: Double
        public var backwardMs: Double
        enum CodingKeys: String, CodingKey { case op, forwardMs = "forward_ms", backwardMs = "backward_ms" }
    }

    static func time(_ repeats: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = Clock.now()
            body()
            best = min(best, Clock.now() - t0)
        }
        return best * 1000
    }

    /// Forward alone, then forward + backward (reported as the difference).
    static func measure(_ name: String, repeats: Int, inputs: [Tensor], _ f: ([Tensor]) -> Tensor) -> Result {
        for t in inputs { t.requiresGrad = true }
        let fwd = time(repeats) { _ = Autograd.withNoGrad { f(inputs) } }
        let both = time(repeats) {
            let y = f(inputs)
            let g = Storage(count: y.count, repeating: 1)
            y.gradStorage = g
            y.backwardFromCurrentGradient()
            for t in inputs { t.zeroGrad() }
        }
        return Result(op: name, forwardMs: fwd, backwardMs: max(0, both - fwd))
    }

    /// The ops of one GPT layer at `tokens × d` (and the loss at `tokens × vocab`).
    public static func suite(tokens: Int = 4096, d: Int = 384, heads: Int = 6, context: Int = 256, vocab: Int = 8192,
                             repeats: Int = 5) -> [Result] {
        BLASRuntime.prepare()
        var rng = RandomGenerator(seed: 1)
        func r(_ s: [Int]) -> Tensor { Tensor.uniform(s, low: -1, high: 1, rng: &rng) }
        let B = tokens / context
        var out: [Result] = []
        out.append(measure("layerNorm [\(tokens)×\(d)]", repeats: repeats, inputs: [r([tokens, d]), r([d]), r([d])]) {
            $0[0].layerNorm(gamma: $0[1], beta: $0[2]) })
        out.append(measure("linear+bias [\(tokens)×\(d)]→\(4 * d)", repeats: repeats, inputs: [r([tokens, d]), r([4 * d, d]), r([4 * d])]) {
            $0[0].linear($0[1], $0[2]) })
        out.append(measure("gelu [\(tokens)×\(4 * d)]", repeats: repeats, inputs: [r([tokens, 4 * d])]) { $0[0].gelu() })
        out.append(measure("residual add [\(tokens)×\(d)]", repeats: repeats, inputs: [r([tokens, d]), r([tokens, d])]) { $0[0] + $0[1] })
        out.append(measure("attention causal [\(B)×\(context)×3·\(d)], \(heads) heads", repeats: repeats,
                           inputs: [r([B, context, 3 * d])]) { $0[0].attention(heads: heads, mask: .causal) })
        let targets = (0..<tokens).map { _ in Int32(rng.nextInt(below: vocab)) }
        out.append(measure("crossEntropy [\(tokens)×\(vocab)]", repeats: repeats, inputs: [r([tokens, vocab])]) {
            $0[0].crossEntropy(targets: targets) })
        let ids = (0..<tokens).map { _ in Int32(rng.nextInt(below: vocab)) }
        out.append(measure("embedding [\(vocab)×\(d)] × \(tokens)", repeats: repeats, inputs: [r([vocab, d])]) { $0[0].gatherRows(ids) })
        return out
    }
}

