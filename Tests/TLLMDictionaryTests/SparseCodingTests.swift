import XCTest
import TLLMCore
import TLLMDictionary

/// Random problems shared by the dictionary tests.
enum Problems {
    static func gaussian(_ rows: Int, _ cols: Int, seed: UInt64) -> Matrix {
        var rng = RandomGenerator(seed: seed)
        return Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in rng.nextNormal() })
    }

    /// Rows scaled to unit norm.
    static func unitRows(_ m: Matrix) -> Matrix {
        var out = m
        for r in 0..<m.rows {
            let n = m.row(r).reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            for c in 0..<m.cols { out[r, c] /= n }
        }
        return out
    }

    /// Planted sparse data: `n` samples, each `s` atoms of `D` with weights ±[1, 2] (or [1, 2]), plus noise.
    static func planted(_ D: Matrix, n: Int, s: Int, noise: Float, seed: UInt64, signed: Bool = true) -> Matrix {
        var rng = RandomGenerator(seed: seed)
        var X = Matrix(zeros: n, D.cols)
        for i in 0..<n {
            var chosen = Set<Int>()
            while chosen.count < s { chosen.insert(rng.nextInt(below: D.rows)) }
            for a in chosen.sorted() {        // (a Set's order differs between processes)
                let w = (1 + rng.nextFloat()) * (signed && rng.nextFloat() < 0.5 ? -1 : 1)
                for j in 0..<D.cols { X[i, j] += w * D[a, j] }
            }
            for j in 0..<D.cols { X[i, j] += noise * rng.nextNormal() }
        }
        return X
    }

    /// ∇ of ½‖x − uD‖² at u for each row: D·(x − uD)ᵀ, `[n, k]`.
    static func correlations(_ X: Matrix, _ D: Matrix, _ U: Matrix) -> Matrix {
        let R = U.times(D)
        var E = X
        for i in 0..<E.values.count { E.values[i] -= R.values[i] }
        return E.times(D, transposeOther: true)
    }
}

final class SparseCodingTests: XCTestCase {
    let D = Problems.unitRows(Problems.gaussian(24, 16, seed: 1))   // overcomplete: 24 atoms, 16 features
    let X = Problems.gaussian(40, 16, seed: 2)

    /// Lasso optimality: c_j = α·sign(u_j) where u_j ≠ 0, |c_j| ≤ α where u_j = 0.
    func assertKKT(_ U: Matrix, alpha: Float, positive: Bool = false, tolerance: Float, file: StaticString = #filePath, line: UInt = #line) {
        let C = Problems.correlations(X, D, U)
        var worst: Float = 0
        for i in 0..<U.values.count {
            let u = U.values[i], c = C.values[i]
            if u != 0 { worst = max(worst, abs(c - alpha * (u > 0 ? 1 : -1))) }
            else { worst = max(worst, positive ? max(0, c - alpha) : max(0, abs(c) - alpha)) }
            if positive { XCTAssertGreaterThanOrEqual(u, 0, file: file, line: line) }
        }
        XCTAssertLessThan(worst, tolerance, "largest KKT violation", file: file, line: line)
    }

    func testCoordinateDescentMeetsKKT() {
        var coder = SparseCoder(method: .cd, alpha: 0.3)
        coder.tolerance = 1e-7
        let U = coder.transform(X, dictionary: D)
        assertKKT(U, alpha: 0.3, tolerance: 2e-3)
        XCTAssertGreaterThan(U.values.filter { $0 == 0 }.count, U.values.count / 4, "α = 0.3 must zero a good share of the codes")
    }

    func testFISTAMatchesCoordinateDescent() {
        var cd = SparseCoder(method: .cd, alpha: 0.3); cd.tolerance = 1e-7
        var fista = SparseCoder(method: .fista, alpha: 0.3); fista.maxIterations = 5000; fista.tolerance = 1e-7
        let a = cd.transform(X, dictionary: D), b = fista.transform(X, dictionary: D)
        let fa = dictionaryObjective(X, D, a, alpha: 0.3), fb = dictionaryObjective(X, D, b, alpha: 0.3)
        XCTAssertEqual(fa, fb, accuracy: 1e-4 * fa)
        assertKKT(b, alpha: 0.3, tolerance: 5e-3)
        let maxDiff = zip(a.values, b.values).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(maxDiff, 5e-3, "the Lasso solution is unique here (random dictionary)")
    }

    func testNonNegativeCodes() {
        for method in [SparseCodingMethod.cd, .fista] {
            var coder = SparseCoder(method: method, alpha: 0.2, positive: true)
            coder.tolerance = 1e-7; coder.maxIterations = 5000
            assertKKT(coder.transform(X, dictionary: D), alpha: 0.2, positive: true, tolerance: 5e-3)
        }
    }

    func testOrthogonalMatchingPursuit() {
        let U = SparseCoder(method: .omp, nonzeros: 4).transform(X, dictionary: D)
        let C = Problems.correlations(X, D, U)
        for i in 0..<X.rows {
            let support = (0..<D.rows).filter { U[i, $0] != 0 }
            XCTAssertEqual(support.count, 4, "exactly the requested non-zeros on a generic problem")
            // Least squares on the support: the residual is orthogonal to every chosen atom.
            for j in support { XCTAssertEqual(C[i, j], 0, accuracy: 1e-4) }
        }
        // The first atom OMP picks is the one most correlated with x.
        let one = SparseCoder(method: .omp, nonzeros: 1).transform(X, dictionary: D)
        let corr = X.times(D, transposeOther: true)
        for i in 0..<X.rows {
            let best = (0..<D.rows).max { abs(corr[i, $0]) < abs(corr[i, $1]) }!
            XCTAssertEqual(one[i, best], corr[i, best], accuracy: 1e-5)
        }
        // More atoms never fit worse.
        let err4 = dictionaryObjective(X, D, U, alpha: 0), err8 = dictionaryObjective(X, D, SparseCoder(method: .omp, nonzeros: 8).transform(X, dictionary: D), alpha: 0)
        XCTAssertLessThan(err8, err4)
    }

    func testZeroPenaltyIsLeastSquares() {
        // Complete square dictionary, α = 0: the codes solve uD = x exactly.
        let Dsq = Problems.unitRows(Problems.gaussian(16, 16, seed: 5))
        var coder = SparseCoder(method: .cd, alpha: 0); coder.tolerance = 1e-9; coder.maxIterations = 20000
        let U = coder.transform(X, dictionary: Dsq)
        XCTAssertLessThan(dictionaryObjective(X, Dsq, U, alpha: 0), 1e-3)
    }

    func testLinearAlgebraHelpers() {
        let A0 = Problems.gaussian(6, 6, seed: 9)
        let A = A0.times(A0, transposeSelf: true)                 // symmetric positive definite
        let (values, vectors) = A.symmetricEigen()
        XCTAssertEqual(values, values.sorted(by: >))
        for i in 0..<6 {
            let v = Matrix(rows: 1, cols: 6, values: Array(vectors.row(i)))
            let Av = v.times(A)                                    // vᵀA = (Av)ᵀ for symmetric A
            for j in 0..<6 { XCTAssertEqual(Av[0, j], values[i] * v[0, j], accuracy: 1e-3 * values[0]) }
        }
        let B = Problems.gaussian(6, 3, seed: 10)
        let Xs = A.solvingSPD(B)!
        let AX = A.times(Xs)
        for i in 0..<B.values.count { XCTAssertEqual(AX.values[i], B.values[i], accuracy: 1e-3) }
        XCTAssertNil(Matrix(zeros: 3, 3).solvingSPD(Matrix(zeros: 3, 1)), "a singular matrix is refused")
    }
}
