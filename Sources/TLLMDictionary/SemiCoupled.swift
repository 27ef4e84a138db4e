import Foundation
import TLLMCore

/// Semi-coupled dictionary learning (Wang, Zhang, Liang & Pan, CVPR 2012): a source dictionary
/// D_s, a target dictionary D_t, and a linear map W taking source codes to target codes, learned
/// from paired samples by minimising, summed over pairs,
///
///     ½‖x_s − u_s·D_s‖² + ½‖x_t − u_t·D_t‖² + (γ/2)‖u_t − u_s·W‖² + α(‖u_s‖₁ + ‖u_t‖₁) + (λ/2)‖W‖²
///
/// Alternates: (1) the codes, each a Lasso with the coupling folded into an augmented dictionary
/// (`[D_s | √γ·W]` against `[x_s | √γ·u_t]`; `[D_t | √γ·I]` against `[x_t | √γ·u_s·W]`); (2) one
/// block-coordinate pass over each dictionary's atoms (‖d‖ ≤ 1); (3) W in closed form,
/// W = (U_sᵀU_s + (λ/γ)·I)⁻¹·U_sᵀU_t. Starts from a joint dictionary of the concatenated pairs
/// (shared codes). To map a new source sample: u_s by Lasso on D_s, then x̂_t = (u_s·W)·D_t.
/// Both domains are centred on their training means first (the map predicts deviations from
/// the target mean), which the fitted model keeps and applies.
///
/// Defaults: 128 atoms per domain, α 0.1, γ 0.1, λ 0.01, 20 iterations (tuned on the digits
/// super-resolution task of `tllm experiment dictionary`).
public struct SemiCoupledDictionaryLearner: Sendable {
    public var atoms = 128
    public var alpha: Float = 0.1
    public var gamma: Float = 0.1
    public var lambda: Float = 0.01
    public var iterations = 20
    public var seed: UInt64 = 0

    public init(atoms: Int = 128, alpha: Float = 0.1, gamma: Float = 0.1, lambda: Float = 0.01, iterations: Int = 20, seed: UInt64 = 0) {
        self.atoms = atoms; self.alpha = alpha; self.gamma = gamma; self.lambda = lambda; self.iterations = iterations; self.seed = seed
    }

    /// Learns the pair of dictionaries and the map from paired rows of `source` and `target`.
    public func fit(source: Matrix, target: Matrix) -> SemiCoupledDictionary {
        precondition(source.rows == target.rows && source.rows > 0, "SemiCoupled: \(source.rows) source rows, \(target.rows) target rows")
        let sourceMean = source.columnMeans, targetMean = target.columnMeans
        let S = source.subtractingRow(sourceMean), T = target.subtractingRow(targetMean)
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("semi-coupled"))
        let joint = DictionaryLearner(atoms: atoms, alpha: alpha, maxIterations: 30, seed: seed).fit(S.concatenatingColumns(T))
        var Ds = joint.components.columns(0..<S.cols), Dt = joint.components.columns(S.cols..<(S.cols + T.cols))
        var Us = joint.transform(S.concatenatingColumns(T)), Ut = Us
        var W = Self.mapStep(Us, Ut, gamma: gamma, lambda: lambda)
        var history: [Double] = []
        let g = gamma.squareRoot()
        let coder = SparseCoder(method: .cd, alpha: alpha)
        for _ in 0..<iterations {
            Us = coder.transform(S.concatenatingColumns(Ut.scaled(by: g)), dictionary: Ds.concatenatingColumns(W.scaled(by: g)), initial: Us)
            Ut = coder.transform(T.concatenatingColumns(Us.times(W).scaled(by: g)),
                                 dictionary: Dt.concatenatingColumns(Matrix.identity(atoms, scale: g)), initial: Ut)
            DictionaryLearner.updateAtoms(&Ds, A: Us.times(Us, transposeSelf: true), B: S.times(Us, transposeSelf: true),
                                          data: S, codes: &Us, rng: &rng)
            DictionaryLearner.updateAtoms(&Dt, A: Ut.times(Ut, transposeSelf: true), B: T.times(Ut, transposeSelf: true),
                                          data: T, codes: &Ut, rng: &rng)
            W = Self.mapStep(Us, Ut, gamma: gamma, lambda: lambda)
            history.append(objective(S, T, Ds, Dt, W, Us, Ut))
        }
        return SemiCoupledDictionary(source: Ds, target: Dt, map: W, alpha: alpha, sourceMean: sourceMean, targetMean: targetMean,
                                     history: history)
    }

    /// The map step: argmin_W (γ/2)‖U_t − U_s·W‖² + (λ/2)‖W‖², i.e. ridge regression of U_t on U_s.
    public static func mapStep(_ Us: Matrix, _ Ut: Matrix, gamma: Float, lambda: Float) -> Matrix {
        var G = Us.times(Us, transposeSelf: true)
        for i in 0..<G.rows { G[i, i] += max(lambda / gamma, 1e-6) }
        return G.solvingSPD(Us.times(Ut, transposeSelf: true))!
    }

    /// The objective per pair.
    public func objective(_ S: Matrix, _ T: Matrix, _ Ds: Matrix, _ Dt: Matrix, _ W: Matrix, _ Us: Matrix, _ Ut: Matrix) -> Double {
        func sq(_ a: Matrix, _ b: Matrix) -> Double { zip(a.values, b.values).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } }
        let l1 = (Us.values + Ut.values).reduce(0.0) { $0 + Double(abs($1)) }
        let total = 0.5 * sq(S, Us.times(Ds)) + 0.5 * sq(T, Ut.times(Dt)) + 0.5 * Double(gamma) * sq(Ut, Us.times(W))
            + Double(alpha) * l1 + 0.5 * Double(lambda) * W.squaredNorm
        return total / Double(S.rows)
    }
}

/// The learned pair of dictionaries and the code map.
public struct SemiCoupledDictionary: Sendable {
    /// `[atoms, source features]`, `[atoms, target features]`, `[atoms, atoms]`.
    public var source: Matrix, target: Matrix, map: Matrix
    public var alpha: Float
    /// The training means the domains were centred on.
    public var sourceMean: [Float], targetMean: [Float]
    /// The objective per pair after each iteration.
    public var history: [Double]

    /// Target-domain reconstructions of source samples: x̂_t = μ_t + (lasso(x_s − μ_s; D_s)·W)·D_t.
    public func predict(_ S: Matrix) -> Matrix {
        SparseCoder(method: .cd, alpha: alpha).transform(S.subtractingRow(sourceMean), dictionary: source)
            .times(map).times(target).subtractingRow(targetMean.map { -$0 })
    }
}
