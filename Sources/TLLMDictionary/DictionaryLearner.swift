import Foundation
import TLLMCore

/// Learns a dictionary D (`atoms × features`, each atom ‖d‖ ≤ 1) and sparse codes U such that
/// X ≈ U·D, minimising the mean over samples of ½‖x − uD‖² + α‖u‖₁.
///
/// Two solvers, as scikit-learn has them:
/// - **batch** (`DictionaryLearning`): SVD initialisation, then alternate sparse coding of all
///   samples (warm-started) with one block-coordinate pass over the atoms; stops when the
///   objective falls by less than `tolerance` (relative) in an iteration.
/// - **online** (`MiniBatchDictionaryLearning`, Mairal et al. 2009/2010): shuffled mini-batches,
///   sufficient statistics A = Σ UᵀU and B = Σ XᵀU with forgetting factor β, one atom pass per
///   batch; stops after `maxNoImprovement` batches without a better running mean cost, or when
///   the dictionary moves by less than `tolerance`.
///
/// Defaults: α 1, the `cd` coder, batch: 1000 iterations and tolerance 1e-8; online: batches of
/// 256, 1000 passes (epochs) at most, tolerance 1e-3, 10 batches without improvement.
public struct DictionaryLearner: Sendable {
    public var atoms: Int
    public var alpha: Float = 1
    /// The sparse coder used while fitting (its α is the learner's).
    public var method: SparseCodingMethod = .cd
    /// Mini-batches of this size (online) or nil for the batch solver.
    public var batchSize: Int? = nil
    /// Batch: iterations. Online: passes over the data.
    public var maxIterations: Int
    public var tolerance: Float
    /// Online: stop after this many batches without a better running mean cost.
    public var maxNoImprovement = 10
    public var seed: UInt64 = 0
    public var positiveCodes = false

    /// A batch learner (`batchSize: nil`) or an online one.
    public init(atoms: Int, alpha: Float = 1, method: SparseCodingMethod = .cd, batchSize: Int? = nil,
                maxIterations: Int? = nil, tolerance: Float? = nil, seed: UInt64 = 0) {
        self.atoms = atoms; self.alpha = alpha; self.method = method; self.batchSize = batchSize
        self.maxIterations = maxIterations ?? 1000
        self.tolerance = tolerance ?? (batchSize == nil ? 1e-8 : 1e-3)
        self.seed = seed
    }

    var coder: SparseCoder { SparseCoder(method: method, alpha: alpha, positive: positiveCodes) }

    /// Fits a dictionary to the rows of `X`.
    public func fit(_ X: Matrix) -> FittedDictionary {
        precondition(atoms > 0 && X.rows > 0 && X.cols > 0, "DictionaryLearner: empty data or no atoms")
        if let b = batchSize { return fitOnline(X, batchSize: max(1, min(b, X.rows))) }
        return fitBatch(X)
    }

    // MARK: - Batch

    func fitBatch(_ X: Matrix) -> FittedDictionary {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("dictionary"))
        var (D, U) = svdInitialisation(X)
        var history: [Double] = []
        for _ in 0..<maxIterations {
            U = coder.transform(X, dictionary: D, initial: U)
            let A = U.times(U, transposeSelf: true)               // [k, k]
            let B = X.times(U, transposeSelf: true)               // [p, k]
            Self.updateAtoms(&D, A: A, B: B, data: X, codes: &U, rng: &rng)
            history.append(dictionaryObjective(X, D, U, alpha: alpha))
            if history.count > 1 {
                let drop = history[history.count - 2] - history[history.count - 1]
                if drop < Double(tolerance) * history[history.count - 1] { break }
            }
        }
        return FittedDictionary(components: D, alpha: alpha, method: method, positiveCodes: positiveCodes,
                                history: history, iterations: history.count)
    }

    /// The SVD start: atoms S_i·v_i (the top right singular vectors scaled by their singular
    /// values), codes X·v_i / S_i; signs fixed so each atom's largest entry is positive. Atoms
    /// beyond the rank are zero (and get re-sampled by the first update).
    func svdInitialisation(_ X: Matrix) -> (Matrix, Matrix) {
        let (eig, V) = X.times(X, transposeSelf: true).symmetricEigen()   // XᵀX = V Λ Vᵀ, V's rows
        var D = Matrix(zeros: atoms, X.cols)
        for i in 0..<min(atoms, X.cols) {
            let s = max(eig[i], 0).squareRoot()
            guard s > 1e-6 * max(eig[0], 1e-30).squareRoot() else { continue }
            var v = Array(V.row(i))
            if let m = v.indices.max(by: { abs(v[$0]) < abs(v[$1]) }), v[m] < 0 { v = v.map { -$0 } }
            for j in 0..<X.cols { D[i, j] = s * v[j] }
        }
        // Codes: U = X·Dᵀ / s² (= X·v / s).
        var U = X.times(D, transposeOther: true)
        for i in 0..<atoms {
            let ss = D.row(i).reduce(Float(0)) { $0 + $1 * $1 }
            guard ss > 0 else { continue }
            for r in 0..<X.rows { U[r, i] /= ss }
        }
        return (D, U)
    }

    // MARK: - Online

    func fitOnline(_ X: Matrix, batchSize bs: Int) -> FittedDictionary {
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("dictionary"))
        var (D, _) = svdInitialisation(X)
        let k = atoms, p = X.cols
        var A = Matrix(zeros: k, k), B = Matrix(zeros: p, k)
        var monitor = OnlineConvergence(samples: X.rows, batchSize: bs, atoms: k, tolerance: tolerance,
                                        maxNoImprovement: maxNoImprovement)
        var stream = SampleStream(count: X.rows, rng: rng.derived(stream: 1))
        var history: [Double] = []
        let stepsPerPass = (X.rows + bs - 1) / bs
        for step in 0..<(maxIterations * stepsPerPass) {
            let batch = X.rows(stream.next(bs))
            var U = coder.transform(batch, dictionary: D)
            let cost = dictionaryObjective(batch, D, U, alpha: alpha)
            Self.accumulate(&A, &B, batch: batch, codes: U, step: step, batchSize: batch.rows)
            let old = D
            Self.updateAtoms(&D, A: A, B: B, data: batch, codes: &U, rng: &rng)
            history.append(cost)
            if monitor.converged(batchCost: cost, batchRows: batch.rows, old: old, new: D, step: step) { break }
        }
        return FittedDictionary(components: D, alpha: alpha, method: method, positiveCodes: positiveCodes,
                                history: history, iterations: history.count)
    }

    /// A ← βA + UᵀU/b, B ← βB + XᵀU/b, with scikit-learn's forgetting factor
    /// β = (θ + 1 − b)/(θ + 1), θ = (t+1)·b for t < b − 1 else b² + t + 1 − b.
    public static func accumulate(_ A: inout Matrix, _ B: inout Matrix, batch X: Matrix, codes U: Matrix, step: Int, batchSize b: Int) {
        let bf = Float(b), t = Float(step)
        let theta: Float = step < b - 1 ? (t + 1) * bf : bf * bf + t + 1 - bf
        let beta = (theta + 1 - bf) / (theta + 1)
        let uu = U.times(U, transposeSelf: true), xu = X.times(U, transposeSelf: true)
        for i in 0..<A.values.count { A.values[i] = beta * A.values[i] + uu.values[i] / bf }
        for i in 0..<B.values.count { B.values[i] = beta * B.values[i] + xu.values[i] / bf }
    }

    // MARK: - Atom update

    /// One block-coordinate pass over the atoms (Mairal et al., Algorithm 2):
    /// d_k ← d_k + (B_k − A_k·D)/A_kk, projected onto ‖d_k‖ ≤ 1. An atom with A_kk ≤ 1e-6 (almost
    /// never used) is replaced by a random sample plus 1% noise and its codes zeroed.
    public static func updateAtoms(_ D: inout Matrix, A: Matrix, B: Matrix, data X: Matrix, codes U: inout Matrix,
                            rng: inout RandomGenerator) {
        let k = D.rows, p = D.cols
        var delta = [Float](repeating: 0, count: p)
        for a in 0..<k {
            let akk = A[a, a]
            if akk > 1e-6 {
                for j in 0..<p { delta[j] = B[j, a] }
                D.values.withUnsafeBufferPointer { d in
                    for m in 0..<k where A[a, m] != 0 {
                        let w = A[a, m]
                        for j in 0..<p { delta[j] -= w * d[m * p + j] }
                    }
                }
                for j in 0..<p { D[a, j] += delta[j] / akk }
            } else {
                let r = rng.nextInt(below: X.rows)
                let row = Array(X.row(r))
                let mean = row.reduce(0, +) / Float(p)
                let std = (row.reduce(Float(0)) { $0 + ($1 - mean) * ($1 - mean) } / Float(p)).squareRoot()
                let level = 0.01 * (std > 0 ? std : 1)
                for j in 0..<p { D[a, j] = row[j] + level * rng.nextNormal() }
                for r in 0..<U.rows { U[r, a] = 0 }
            }
            let norm = D.row(a).reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            if norm > 1 { for j in 0..<p { D[a, j] /= norm } }
        }
    }
}

// MARK: - Online sampling and convergence

/// Sample indices in mini-batches of one size: a fresh permutation per pass, batches running on
/// across pass boundaries (so every batch is full and every sample is seen once per pass).
struct SampleStream {
    let count: Int
    var rng: RandomGenerator
    var order: [Int] = [], position = 0

    init(count: Int, rng: RandomGenerator) { self.count = count; self.rng = rng }

    mutating func next(_ n: Int) -> [Int] {
        var out: [Int] = []; out.reserveCapacity(n)
        while out.count < n {
            if position == order.count { order = rng.permutation(count); position = 0 }
            let take = min(n - out.count, order.count - position)
            out.append(contentsOf: order[position..<(position + take)])
            position += take
        }
        return out
    }
}

/// scikit-learn's mini-batch stopping rule: skip the first min(100, n/b) batches, then keep an
/// exponentially weighted mean of the batch cost (weight b/(n+1)); stop when the dictionary moves
/// by ≤ tolerance (Frobenius change / atoms) or after `maxNoImprovement` batches without a new minimum.
struct OnlineConvergence {
    let samples: Int, batchSize: Int, atoms: Int
    let tolerance: Float, maxNoImprovement: Int
    var ewa: Double? = nil, ewaMin: Double? = nil, noImprovement = 0

    init(samples: Int, batchSize: Int, atoms: Int, tolerance: Float, maxNoImprovement: Int) {
        self.samples = samples; self.batchSize = batchSize; self.atoms = atoms
        self.tolerance = tolerance; self.maxNoImprovement = maxNoImprovement
    }

    mutating func converged(batchCost: Double, batchRows: Int, old: Matrix, new: Matrix, step: Int) -> Bool {
        if Double(step + 1) <= min(100, Double(samples) / Double(batchSize)) { return false }
        let w = min(Double(batchRows) / Double(samples + 1), 1)
        ewa = ewa.map { $0 * (1 - w) + batchCost * w } ?? batchCost
        var change = 0.0
        for i in 0..<old.values.count { let d = Double(new.values[i] - old.values[i]); change += d * d }
        if tolerance > 0 && change.squareRoot() / Double(atoms) <= Double(tolerance) { return true }
        if ewaMin == nil || ewa! < ewaMin! { ewaMin = ewa; noImprovement = 0 } else { noImprovement += 1 }
        return noImprovement >= maxNoImprovement
    }
}

// MARK: - The fitted model

/// A learned dictionary: `transform` gives codes, `inverseTransform` reconstructions.
public struct FittedDictionary: Sendable {
    /// Atoms as rows, `[atoms, features]`.
    public var components: Matrix
    public var alpha: Float
    public var method: SparseCodingMethod
    public var positiveCodes: Bool
    /// The objective after each iteration (batch) or each mini-batch's cost before its update (online).
    public var history: [Double]
    public var iterations: Int

    public init(components: Matrix, alpha: Float, method: SparseCodingMethod = .cd, positiveCodes: Bool = false,
                history: [Double] = [], iterations: Int = 0) {
        self.components = components; self.alpha = alpha; self.method = method; self.positiveCodes = positiveCodes
        self.history = history; self.iterations = iterations
    }

    /// Codes of `X`; `coder` overrides the fitting coder (for example OMP with a set number of non-zeros).
    public func transform(_ X: Matrix, coder: SparseCoder? = nil) -> Matrix {
        (coder ?? SparseCoder(method: method, alpha: alpha, positive: positiveCodes)).transform(X, dictionary: components)
    }

    /// Reconstructions U·D.
    public func inverseTransform(_ codes: Matrix) -> Matrix { codes.times(components) }

    /// The mean per-sample objective ½‖x − uD‖² + α‖u‖₁ of `X` under this dictionary's own coder.
    public func objective(_ X: Matrix) -> Double { dictionaryObjective(X, components, transform(X), alpha: alpha) }
}

// MARK: - Files

extension FittedDictionary {
    /// Writes the atoms as a safetensors file (tensor `components`, `[atoms, features]`), with α
    /// and the coder in its metadata; written atomically.
    public func save(to url: URL) throws {
        try components.values.withUnsafeBufferPointer { v in
            try SafeTensors.write([.init(name: "components", shape: [components.rows, components.cols], values: v)],
                                  metadata: ["alpha": "\(alpha)", "method": method.rawValue, "positive_codes": "\(positiveCodes)",
                                             "iterations": "\(iterations)"],
                                  to: url)
        }
    }

    /// Reads a dictionary written by ``save(to:)``.
    public static func load(_ url: URL) throws -> FittedDictionary {
        let f = try SafeTensors.read(url)
        guard let c = f.tensors["components"], c.shape.count == 2, c.shape[0] > 0, c.shape[1] > 0 else {
            throw TLLMError("no 2-D tensor 'components' (is this a dictionary written by tllm dict learn?)", file: url.path)
        }
        guard c.values.allSatisfy(\.isFinite) else { throw TLLMError("tensor 'components' holds non-finite values", file: url.path) }
        let alpha = f.metadata["alpha"].flatMap(Float.init) ?? 1
        guard alpha.isFinite, alpha >= 0 else { throw TLLMError("metadata 'alpha' must be a finite number ≥ 0", file: url.path) }
        return FittedDictionary(components: Matrix(rows: c.shape[0], cols: c.shape[1], values: c.values), alpha: alpha,
                                method: f.metadata["method"].flatMap(SparseCodingMethod.init) ?? .cd,
                                positiveCodes: f.metadata["positive_codes"] == "true",
                                iterations: f.metadata["iterations"].flatMap(Int.init) ?? 0)
    }
}
