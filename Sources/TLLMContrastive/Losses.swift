import Foundation
import TLLMCore

/// Contrastive objectives as plain functions over tensors (CPC-style InfoNCE, SimCLR's NT-Xent,
/// MoCo's queue logits, binary NCE). All return the mean loss over the batch, on the tape.
public enum ContrastiveLoss {
    /// InfoNCE (van den Oord et al., 2018): `logits[i]` scores sample i's candidates, one of which
    /// (`positive[i]`) is its true partner: `−log softmax(logits[i])[positive[i]]`. With K
    /// negatives it bounds the mutual information: I ≥ log(K + 1) − loss.
    public static func infoNCE(logits: Tensor, positive: [Int32]) -> Tensor {
        logits.crossEntropy(targets: positive)
    }

    /// NT-Xent (SimCLR, Chen et al., 2020) of two views `[N, D]` each: the 2N embeddings are
    /// L2-normalised, every pair scored by cosine / τ, self-similarity masked out; view i's positive
    /// is its other view, the other 2N − 2 embeddings its negatives; symmetric (both directions).
    public static func ntXent(_ z1: Tensor, _ z2: Tensor, temperature tau: Float) -> Tensor {
        check(z1.shape == z2.shape && z1.rank == 2, "ntXent: views \(z1.shape) and \(z2.shape) must be [N, D] alike")
        let N = z1.shape[0]
        let z = Tensor.concat([z1, z2], axis: 0).l2Normalized()                      // [2N, D]
        let sim = z.matmul(z, transposeOther: true).scaled(by: 1 / tau)            // [2N, 2N]
        let targets = (0..<(2 * N)).map { Int32($0 < N ? $0 + N : $0 - N) }
        return (sim + selfMask(2 * N)).crossEntropy(targets: targets)
    }

    /// A constant `[n, n]` with −1e9 on the diagonal (a sample is never its own candidate).
    static func selfMask(_ n: Int) -> Tensor {
        let m = Tensor(zeros: [n, n])
        for i in 0..<n { m.data[i * n + i] = -1e9 }
        return m
    }

    /// MoCo (He et al., 2020): queries `q` `[N, D]`, their keys `k` `[N, D]` (from the momentum
    /// encoder, no gradient) and a queue of earlier keys `[K, D]`; logits `[q·k | q·queueᵀ] / τ`
    /// after L2 normalisation, the positive in column 0.
    public static func moco(queries q: Tensor, keys k: Tensor, queue: Tensor, temperature tau: Float) -> Tensor {
        check(q.shape == k.shape && q.rank == 2 && queue.rank == 2 && queue.shape[1] == q.shape[1],
              "moco: queries \(q.shape), keys \(k.shape), queue \(queue.shape)")
        let qn = q.l2Normalized(), kn = k.detached().l2Normalized()
        let positive = (qn * kn).sum(axis: -1).reshaped([q.shape[0], 1])            // [N, 1]
        let negative = qn.matmul(queue.detached(), transposeOther: true)           // [N, K] (the queue holds normalised keys)
        let logits = Tensor.concat([positive, negative], axis: 1).scaled(by: 1 / tau)
        return logits.crossEntropy(targets: [Int32](repeating: 0, count: q.shape[0]))
    }

    /// Deep InfoMax's local Jensen–Shannon objective: `scores` `[N, N·P]` pairs image i's global
    /// code with position p of image j's feature map; positives are j = i. Loss
    /// `mean_pos softplus(−s) + mean_neg softplus(s)` (the negative JSD bound, up to constants).
    public static func jsdLocal(scores S: Tensor, positionsPerImage P: Int) -> Tensor {
        let N = S.shape[0]
        check(S.rank == 2 && S.shape[1] == N * P && N >= 2 && P >= 1, "jsdLocal: scores \(S.shape) for \(N) images × \(P) positions (needs 2 images or more)")
        let positive = Tensor(zeros: [N, N * P]), negative = Tensor(shape: [N, N * P], repeating: 1)
        for i in 0..<N { for p in 0..<P { positive.data[i * N * P + i * P + p] = 1; negative.data[i * N * P + i * P + p] = 0 } }
        let pos = (S.negated().softplus() * positive).sum().scaled(by: 1 / Float(N * P))
        let neg = (S.softplus() * negative).sum().scaled(by: 1 / Float(N * (N - 1) * P))
        return pos + neg
    }

    /// CPC (van den Oord et al., 2018): context vectors `c` `[N, d]` predict the encodings `z`
    /// `[N, e]` of what comes k steps later through a per-k linear map `W_k` (`predictor`, d → e);
    /// InfoNCE over the batch, row i's positive is `z_i`: logits `(W_k c)·zᵀ`.
    public static func cpc(contexts c: Tensor, futures z: Tensor, predictor: Linear) -> Tensor {
        check(c.rank == 2 && z.rank == 2 && c.shape[0] == z.shape[0] && predictor.outFeatures == z.shape[1],
              "cpc: contexts \(c.shape), futures \(z.shape), predictor \(predictor.weight.shape)")
        let logits = predictor(c).matmul(z, transposeOther: true)                   // [N, N]
        return infoNCE(logits: logits, positive: (0..<c.shape[0]).map(Int32.init))
    }

    /// Binary NCE (Gutmann & Hyvärinen, 2010) with `k` noise samples per datum: scores are logits
    /// of "data rather than noise", `dataScores` `[N]`, `noiseScores` `[N, k]`:
    /// `softplus(−s_data) + Σ_j softplus(s_noise_j)`, averaged over N.
    public static func nce(dataScores: Tensor, noiseScores: Tensor) -> Tensor {
        check(noiseScores.rank == 2 && noiseScores.shape[0] == dataScores.count, "nce: data \(dataScores.shape), noise \(noiseScores.shape)")
        let n = Float(dataScores.count)
        return (dataScores.negated().softplus().sum() + noiseScores.softplus().sum()).scaled(by: 1 / n)
    }
}
