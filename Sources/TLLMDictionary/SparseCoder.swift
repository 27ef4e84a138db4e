import CBLAS
import Foundation
import TLLMCore

/// How codes are found.
public enum SparseCodingMethod: String, Codable, Sendable, CaseIterable {
    /// Lasso by cyclic coordinate descent on the Gram matrix (scikit-learn's `lasso_cd`).
    case cd
    /// Accelerated proximal gradient (Beck & Teboulle), all samples at once.
    case fista
    /// Orthogonal matching pursuit: greedily `nonzeros` atoms, least squares on them (no α).
    case omp
}

/// Sparse coding of samples against a dictionary: for each row x of X, the code u minimising
/// ½‖x − uD‖² + α‖u‖₁ (atoms are D's rows), or for OMP the best fit with `nonzeros` atoms.
///
/// Defaults follow scikit-learn's `sparse_encode`: `maxIterations` 1000, `tolerance` 1e-4 (a
/// duality-gap bound relative to ‖x‖²), OMP with 10% of the features as non-zeros.
public struct SparseCoder: Sendable {
    public var method: SparseCodingMethod = .cd
    public var alpha: Float = 1
    /// OMP's target number of non-zero coefficients (default: a tenth of the features, at least 1).
    public var nonzeros: Int? = nil
    /// Codes ≥ 0 (CD and FISTA).
    public var positive = false
    public var maxIterations = 1000
    public var tolerance: Float = 1e-4

    public init(method: SparseCodingMethod = .cd, alpha: Float = 1, nonzeros: Int? = nil, positive: Bool = false) {
        self.method = method; self.alpha = alpha; self.nonzeros = nonzeros; self.positive = positive
    }

    /// Codes `[n, k]` of the rows of `X` against `D` (`[k, p]`), optionally warm-started.
    public func transform(_ X: Matrix, dictionary D: Matrix, initial: Matrix? = nil) -> Matrix {
        precondition(X.cols == D.cols, "SparseCoder: data has \(X.cols) features, the dictionary \(D.cols)")
        let G = D.times(D, transposeOther: true)                 // [k, k]
        let C = X.times(D, transposeOther: true)                 // [n, k]
        switch method {
        case .cd: return coordinateDescent(X, G: G, C: C, initial: initial)
        case .fista: return fista(X, G: G, C: C, initial: initial)
        case .omp: return matchingPursuit(G: G, C: C, nonzeros: nonzeros ?? max(1, X.cols / 10))
        }
    }

    // MARK: - Coordinate descent

    /// One Lasso per sample, in parallel over samples: `min ½uᵀGu − cᵀu + α‖u‖₁`, keeping
    /// `h = G·u` up to date; stops when the duality gap falls below `tolerance·‖x‖²`.
    func coordinateDescent(_ X: Matrix, G: Matrix, C: Matrix, initial: Matrix?) -> Matrix {
        let n = X.rows, k = G.rows
        var U = initial ?? Matrix(zeros: n, k)
        let xx = (0..<n).map { i in X.row(i).reduce(Float(0)) { $0 + $1 * $1 } }
        G.values.withUnsafeBufferPointer { g in C.values.withUnsafeBufferPointer { c in U.values.withUnsafeMutableBufferPointer { u in
            let gp = g.baseAddress!, cp = c.baseAddress!, up = u.baseAddress!
            Parallel.forChunks(n, grain: 4) { _, range in
                let h = UnsafeMutablePointer<Float>.allocate(capacity: k)
                defer { h.deallocate() }
                for i in range { lasso(gp, cp + i * k, up + i * k, h, k: k, xx: xx[i]) }
            }
        } } }
        return U
    }

    /// One sample's Lasso by cyclic coordinate descent (scikit-learn's `enet_coordinate_descent_gram`).
    func lasso(_ G: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ w: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>,
               k: Int, xx: Float) {
        let a = alpha
        // h = G·w (from the non-zeros only: a cold start costs nothing)
        for j in 0..<k { h[j] = 0 }
        for j in 0..<k where w[j] != 0 { VectorMath.axpy(w[j], G + j * k, h, k) }
        for _ in 0..<maxIterations {
            var dMax: Float = 0, wMax: Float = 0
            for j in 0..<k {
                let gjj = G[j * k + j]
                if gjj == 0 { continue }
                let old = w[j]
                let t = q[j] - h[j] + gjj * old
                let new: Float = positive ? max(t - a, 0) / gjj : (t > a ? t - a : (t < -a ? t + a : 0)) / gjj
                if new != old {
                    w[j] = new
                    VectorMath.axpy(new - old, G + j * k, h, k)
                }
                dMax = max(dMax, abs(new - old)); wMax = max(wMax, abs(new))
            }
            if wMax == 0 || dMax / wMax < tolerance {
                if dualityGap(q, w, h, k: k, xx: xx) < tolerance * xx { return }
            }
        }
    }

    /// The Lasso duality gap from `q = D·x`, `w`, `h = G·w` and ‖x‖².
    func dualityGap(_ q: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ h: UnsafePointer<Float>, k: Int, xx: Float) -> Float {
        var qw: Float = 0, wh: Float = 0, l1: Float = 0, dual: Float = 0
        for j in 0..<k {
            qw += q[j] * w[j]; wh += w[j] * h[j]; l1 += abs(w[j])
            dual = max(dual, positive ? q[j] - h[j] : abs(q[j] - h[j]))
        }
        let rr = max(0, xx - 2 * qw + wh)        // ‖x − uD‖²
        let scale: Float = dual > alpha ? alpha / dual : 1
        let gap = 0.5 * (rr + rr * scale * scale) + alpha * l1 - scale * (xx - qw)
        return gap
    }

    // MARK: - FISTA

    /// All samples at once: `U ← soft(Y − (Y·G − C)/L, α/L)` with Nesterov momentum; the step is
    /// 1/L with L the largest eigenvalue of G.
    func fista(_ X: Matrix, G: Matrix, C: Matrix, initial: Matrix?) -> Matrix {
        let n = X.rows, k = G.rows
        let L = max(largestEigenvalue(G), 1e-12)
        var U = initial ?? Matrix(zeros: n, k)
        var Y = U
        var t: Float = 1
        let thr = alpha / L
        for _ in 0..<maxIterations {
            let grad = Y.times(G)                               // [n, k]  (G symmetric)
            var next = Y
            var dMax: Float = 0, uMax: Float = 0
            for i in 0..<next.values.count {
                let z = Y.values[i] - (grad.values[i] - C.values[i]) / L
                let v: Float = positive ? max(z - thr, 0) : (z > thr ? z - thr : (z < -thr ? z + thr : 0))
                next.values[i] = v
                dMax = max(dMax, abs(v - U.values[i])); uMax = max(uMax, abs(v))
            }
            let tNext = (1 + (1 + 4 * t * t).squareRoot()) / 2
            let m = (t - 1) / tNext
            for i in 0..<Y.values.count { Y.values[i] = next.values[i] + m * (next.values[i] - U.values[i]) }
            U = next
            t = tNext
            if uMax == 0 || dMax / uMax < tolerance * 0.1 { break }
        }
        return U
    }

    /// The largest eigenvalue of a symmetric matrix (power iteration).
    func largestEigenvalue(_ G: Matrix) -> Float {
        let k = G.rows
        var v = [Float](repeating: 1 / Float(k).squareRoot(), count: k)
        var lambda: Float = 0
        for _ in 0..<200 {
            var w = [Float](repeating: 0, count: k)
            for i in 0..<k { var s: Float = 0; for j in 0..<k { s += G[i, j] * v[j] }; w[i] = s }
            let norm = w.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            if norm == 0 { return 0 }
            let next = norm
            v = w.map { $0 / norm }
            if abs(next - lambda) <= 1e-6 * next { lambda = next; break }
            lambda = next
        }
        return lambda
    }

    // MARK: - Orthogonal matching pursuit

    /// Per sample: pick the atom most correlated with the residual, refit the chosen atoms by
    /// least squares (`G_SS·γ = c_S`, a Cholesky solve), until `nonzeros` atoms or no correlation.
    func matchingPursuit(G: Matrix, C: Matrix, nonzeros s: Int) -> Matrix {
        let n = C.rows, k = G.rows
        var U = Matrix(zeros: n, k)
        U.values.withUnsafeMutableBufferPointer { u in
            let up = u.baseAddress!
            Parallel.forChunks(n, grain: 4) { _, range in
                for i in range {
                    let q = Array(C.row(i))
                    var chosen: [Int] = [], gamma: [Float] = []
                    var corr = q
                    while chosen.count < min(s, k) {
                        guard let j = (0..<k).filter({ !chosen.contains($0) }).max(by: { abs(corr[$0]) < abs(corr[$1]) }),
                              abs(corr[j]) > 1e-7 else { break }
                        chosen.append(j)
                        guard let g = Self.solveSPD(chosen.flatMap { a in chosen.map { b in G[a, b] } }, chosen.map { q[$0] }, n: chosen.count) else {
                            chosen.removeLast(); break
                        }
                        gamma = g
                        for m in 0..<k { corr[m] = q[m] - zip(chosen, gamma).reduce(Float(0)) { $0 + G[m, $1.0] * $1.1 } }
                    }
                    for (j, g) in zip(chosen, gamma) { up[i * k + j] = g }
                }
            }
        }
        return U
    }

    /// Solves `A·x = b` for a symmetric positive-definite `n × n` A (LAPACK `sposv`); nil if A is singular.
    static func solveSPD(_ a: [Float], _ b: [Float], n: Int) -> [Float]? {
        var A = a, B = b
        var nn = Int32(n), nrhs: Int32 = 1, lda = Int32(n), ldb = Int32(n), info: Int32 = 0
        var uplo = Int8(UInt8(ascii: "L"))
        sposv_(&uplo, &nn, &nrhs, &A, &lda, &B, &ldb, &info)
        return info == 0 ? B : nil
    }
}
