import Foundation
import TLLMCore

/// Mechanistic measurements of a GPT's attention heads (Olsson et al., 2022, "In-context
/// learning and induction heads"), on sequences the caller supplies — typically a random run of
/// tokens repeated.
public enum HeadAnalysis {
    /// One head's scores.
    public struct Scores: Codable, Sendable {
        public var layer: Int, head: Int
        /// Mean attention from a token to the tokens that followed its earlier occurrences.
        public var prefixMatching: Double
        /// Σ Re λ / Σ |λ| over the eigenvalues of the head's OV circuit `W_U·W_O·W_V·W_E`
        /// (1: the head raises the logit of the token it attends to).
        public var copying: Double
    }

    /// Attention weights of every layer on one sequence: `[layers][H·T·T]`.
    public static func patterns(_ model: GPTModel, tokens: [Int32]) -> [[Float]] {
        let T = tokens.count
        return Autograd.withNoGrad {
            (0..<model.blockCount).map { l in
                let x = model.hidden(tokens, batch: 1, length: T, upTo: l)                       // [T, d] before block l
                let block = model.blocks[l]
                return block.attn.causalPattern(block.norm1(x), length: T)
            }
        }
    }

    /// Prefix-matching score of each head of one pattern `[H·T·T]`: for every position i whose
    /// token occurred before (at j < i), the attention i puts on the positions j + 1 ≤ i, summed
    /// over those j; averaged over such positions. A perfect induction head scores 1; uniform
    /// attention about (number of earlier occurrences)/(i + 1).
    /// With `positions`, only those query positions count (for example the query keys of a recall
    /// sequence).
    public static func prefixMatching(_ pattern: [Float], heads H: Int, tokens: [Int32], positions: [Int]? = nil) -> [Double] {
        let T = tokens.count
        var targets: [(Int, [Int])] = []
        for i in positions ?? Array(0..<T) {
            let after = (0..<i).filter { tokens[$0] == tokens[i] }.map { $0 + 1 }.filter { $0 <= i }
            if !after.isEmpty { targets.append((i, after)) }
        }
        guard !targets.isEmpty else { return [Double](repeating: 0, count: H) }
        return (0..<H).map { h in
            var total = 0.0
            for (i, js) in targets { for j in js { total += Double(pattern[(h * T + i) * T + j]) } }
            return total / Double(targets.count)
        }
    }

    /// The copying score of head `h` in layer `l` (Olsson et al.): the eigenvalues of the OV circuit
    /// `E·W_Vᵀ·W_Oᵀ·Uᵀ` (`V × V`) equal the non-zero ones of the `hd × hd` matrix `W_V·Eᵀ·U·W_O`.
    /// Norms are left out, as in the paper.
    public static func copyingScore(_ model: GPTModel, layer l: Int, head h: Int) -> Double {
        copyingScore(model, layer: l, head: h, embeddingProduct: embeddingProduct(model))
    }

    /// `Eᵀ·U` (`[d, d]`), shared by every head's copying score.
    static func embeddingProduct(_ model: GPTModel) -> [Float] {
        let d = model.config.dModel
        let E = model.tokenEmbedding.weight, U = model.outputWeight                               // [V, d] each
        var EU = [Float](repeating: 0, count: d * d)                                             // Eᵀ·U  [d, d]
        EU.withUnsafeMutableBufferPointer { c in
            GEMM.sgemm(transA: true, transB: false, m: d, n: d, k: E.shape[0], a: E.data, lda: d, b: U.data, ldb: d, c: c.baseAddress!, ldc: d)
        }
        return EU
    }

    static func copyingScore(_ model: GPTModel, layer l: Int, head h: Int, embeddingProduct EU: [Float]) -> Double {
        let attn = model.blocks[l].attn
        let d = model.config.dModel, hd = attn.headDim, H = attn.heads, KV = attn.kvHeads
        let kh = h / (H / KV)
        let wq = attn.qkv.weight.data, wo = attn.proj.weight.data                                // [(H+2KV)·hd, d], [d, H·hd]
        let vRows = (H + KV + kh) * hd
        var M = [Float](repeating: 0, count: hd * hd)                                           // W_V·(EᵀU)·W_O
        for a in 0..<hd {
            var row = [Float](repeating: 0, count: d)                                          // W_V[a]·EᵀU
            for i in 0..<d { let w = wq[(vRows + a) * d + i]; if w != 0 { for j in 0..<d { row[j] += w * EU[i * d + j] } } }
            for b in 0..<hd { var s: Float = 0; for j in 0..<d { s += row[j] * wo[j * (H * hd) + h * hd + b] }; M[a * hd + b] = s }
        }
        guard let eig = Eigenvalues.general(M, n: hd) else { return .nan }
        let re = eig.reduce(0.0) { $0 + Double($1.re) }
        let mag = eig.reduce(0.0) { $0 + Double(($1.re * $1.re + $1.im * $1.im).squareRoot()) }
        return mag > 0 ? re / mag : 0
    }

    /// Every head's scores, prefix matching averaged over `sequences` (at `positions[k]` of
    /// sequence k when given).
    public static func scores(_ model: GPTModel, sequences: [[Int32]], positions: [[Int]]? = nil) -> [Scores] {
        let H = model.config.heads
        var sums = [[Double]](repeating: [Double](repeating: 0, count: H), count: model.blockCount)
        for (k, s) in sequences.enumerated() {
            for (l, p) in patterns(model, tokens: s).enumerated() {
                for (h, v) in prefixMatching(p, heads: H, tokens: s, positions: positions?[k]).enumerated() { sums[l][h] += v / Double(sequences.count) }
            }
        }
        let EU = embeddingProduct(model)
        return (0..<model.blockCount).flatMap { l in
            (0..<H).map { h in Scores(layer: l, head: h, prefixMatching: sums[l][h], copying: copyingScore(model, layer: l, head: h, embeddingProduct: EU)) }
        }
    }

    /// Next-token loss at each position of one sequence, `[T − 1]` (entry i: predicting token i + 1).
    public static func losses(_ model: GPTModel, tokens s: [Int32]) -> [Double] {
        let T = s.count, V = model.config.vocabSize
        return Autograd.withNoGrad {
            let logits = model.logits(s, batch: 1, length: T)                                     // [T, V]
            return (0..<(T - 1)).map { i in
                let row = logits.data + i * V
                let m = VectorMath.max(row, V)
                var z: Double = 0
                for j in 0..<V { z += exp(Double(row[j] - m)) }
                return Double(m) + log(z) - Double(row[Int(s[i + 1])])
            }
        }
    }

    /// Mean next-token loss at each position over `sequences` (all of one length), `[T − 1]`.
    public static func positionLosses(_ model: GPTModel, sequences: [[Int32]]) -> [Double] {
        var out = [Double](repeating: 0, count: sequences[0].count - 1)
        for s in sequences { for (i, l) in losses(model, tokens: s).enumerated() { out[i] += l / Double(sequences.count) } }
        return out
    }

    /// The in-context-learning score with explicit positions: mean loss at the `late` positions
    /// minus mean loss at the `early` ones, over sequences (per-sequence position lists).
    public static func inContextScore(losses: [[Double]], early: [[Int]], late: [[Int]]) -> Double {
        meanLoss(losses, at: late) - meanLoss(losses, at: early)
    }

    /// The mean of `losses[s][i]` over every sequence s and position i in `positions[s]` (0 when
    /// there are none).
    public static func meanLoss(_ losses: [[Double]], at positions: [[Int]]) -> Double {
        var total = 0.0, n = 0
        for (l, set) in zip(losses, positions) {
            for i in set { check(i < l.count, "meanLoss: position \(i) of \(l.count) losses"); total += l[i]; n += 1 }
        }
        return n == 0 ? 0 : total / Double(n)
    }

    /// The in-context-learning score (Olsson et al.): mean loss at late positions minus mean loss at
    /// early ones (windows of a tenth of the length centred at 3/4 and 1/4 of it). Negative: later
    /// tokens are easier because of what came before.
    public static func inContextScore(positionLosses l: [Double]) -> Double {
        let n = l.count, w = max(1, n / 10)
        func window(_ c: Int) -> Double {
            let lo = max(0, c - w / 2), hi = min(n, lo + w)
            return l[lo..<hi].reduce(0, +) / Double(hi - lo)
        }
        return window(3 * n / 4) - window(n / 4)
    }
}

// MARK: - Probes for any model

extension HeadAnalysis {
    /// Olsson et al.'s probe: `count` sequences of `period` random tokens (drawn from
    /// `tokens`, distinct within a run), the run repeated to `2·period` tokens.
    public static func repeatedRandomSequences(tokens: Range<Int>, period: Int, count: Int, seed: UInt64) -> [[Int32]] {
        precondition(period >= 2 && tokens.count >= period, "repeated random sequences: \(period) distinct tokens from \(tokens.count)")
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("repeated-random-sequences"))
        return (0..<count).map { _ in
            let run = rng.permutation(tokens.count).prefix(period).map { Int32(tokens.lowerBound + $0) }
            return run + run
        }
    }

    /// A model's heads on repeated random sequences: every head's scores, and the ICL score
    /// (mean loss on the repeat minus mean loss on the first run).
    public struct Report: Codable, Sendable {
        public var period: Int
        public var sequences: Int
        public var heads: [Scores]
        public var iclScore: Double
        /// Mean loss on the first run (unpredictable) and on the repeat.
        public var firstRunLoss: Double, repeatLoss: Double

        enum CodingKeys: String, CodingKey {
            case period, sequences, heads
            case iclScore = "icl_score", firstRunLoss = "first_run_loss", repeatLoss = "repeat_loss"
        }
    }

    /// Scores `model` on `sequences` of a run of `period` tokens repeated once.
    public static func report(_ model: GPTModel, sequences: [[Int32]], period: Int) -> Report {
        let perSequence = sequences.map { HeadAnalysis.losses(model, tokens: $0) }     // entry i predicts token i + 1
        let first = sequences.map { _ in Array(0..<(period - 1)) }                    // within the first run
        let repeated = sequences.map { s in Array(period..<(s.count - 1)) }           // the repeat (after its first token)
        return Report(period: period, sequences: sequences.count, heads: scores(model, sequences: sequences),
                      iclScore: inContextScore(losses: perSequence, early: first, late: repeated),
                      firstRunLoss: meanLoss(perSequence, at: first), repeatLoss: meanLoss(perSequence, at: repeated))
    }
}
