import CBLAS
import Foundation
import TLLMCore

/// A dense row-major `rows × cols` float matrix — samples as rows, as scikit-learn has them.
public struct Matrix: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public var values: [Float]

    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "Matrix: \(values.count) values for \(rows)×\(cols)")
        self.rows = rows; self.cols = cols; self.values = values
    }

    public init(zeros rows: Int, _ cols: Int) { self.init(rows: rows, cols: cols, values: [Float](repeating: 0, count: rows * cols)) }

    public subscript(r: Int, c: Int) -> Float {
        get { values[r * cols + c] }
        set { values[r * cols + c] = newValue }
    }

    public func row(_ r: Int) -> ArraySlice<Float> { values[(r * cols)..<((r + 1) * cols)] }

    /// Rows `indices` as a new matrix.
    public func rows(_ indices: [Int]) -> Matrix {
        var out = [Float](); out.reserveCapacity(indices.count * cols)
        for r in indices { out.append(contentsOf: row(r)) }
        return Matrix(rows: indices.count, cols: cols, values: out)
    }

    /// `op(self)·op(other)` through `cblas_sgemm`.
    public func times(_ other: Matrix, transposeSelf ta: Bool = false, transposeOther tb: Bool = false) -> Matrix {
        let m = ta ? cols : rows, k = ta ? rows : cols
        let n = tb ? other.rows : other.cols, k2 = tb ? other.cols : other.rows
        precondition(k == k2, "Matrix.times: inner dimensions \(k) and \(k2) differ")
        var out = Matrix(zeros: m, n)
        values.withUnsafeBufferPointer { a in other.values.withUnsafeBufferPointer { b in out.values.withUnsafeMutableBufferPointer { c in
            GEMM.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.baseAddress!, lda: cols, b: b.baseAddress!, ldb: other.cols,
                       c: c.baseAddress!, ldc: n)
        } } }
        return out
    }

    /// Σ of squared entries.
    public var squaredNorm: Double { values.reduce(0.0) { $0 + Double($1) * Double($1) } }
}

/// The dictionary objective of codes `U` for data `X` and dictionary `D` (atoms as rows): the
/// mean over samples of ½‖x − uD‖² + α‖u‖₁.
public func dictionaryObjective(_ X: Matrix, _ D: Matrix, _ U: Matrix, alpha: Float) -> Double {
    let R = U.times(D)
    var err = 0.0, l1 = 0.0
    for i in 0..<X.values.count { let e = Double(X.values[i] - R.values[i]); err += e * e }
    for u in U.values { l1 += Double(abs(u)) }
    return (0.5 * err + Double(alpha) * l1) / Double(max(1, X.rows))
}

// MARK: - LAPACK helpers

extension Matrix {
    /// Eigenvalues (descending) and eigenvectors (as rows, same order) of a symmetric matrix,
    /// by LAPACK `ssyevd`. A row-major symmetric matrix is its own column-major transpose, and
    /// the column-major eigenvector matrix LAPACK returns reads, row-major, as eigenvectors in rows.
    public func symmetricEigen() -> (values: [Float], vectors: Matrix) {
        precondition(rows == cols, "symmetricEigen: \(rows)×\(cols) is not square")
        var a = values
        var n = Int32(rows), lda = Int32(rows), info: Int32 = 0
        var w = [Float](repeating: 0, count: rows)
        var jobz = Int8(UInt8(ascii: "V")), uplo = Int8(UInt8(ascii: "U"))
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workSize: Float = 0, iworkSize: Int32 = 0
        ssyevd_(&jobz, &uplo, &n, &a, &lda, &w, &workSize, &lwork, &iworkSize, &liwork, &info)
        lwork = Int32(workSize); liwork = iworkSize
        var work = [Float](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        ssyevd_(&jobz, &uplo, &n, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        precondition(info == 0, "symmetricEigen: LAPACK ssyevd failed (info \(info))")
        // ascending → descending
        let order = Array((0..<rows).reversed())
        let vectors = Matrix(rows: rows, cols: cols, values: order.flatMap { Array(a[($0 * rows)..<(($0 + 1) * rows)]) })
        return (order.map { w[$0] }, vectors)
    }

    /// The transpose.
    public var transposed: Matrix {
        var out = Matrix(zeros: cols, rows)
        for r in 0..<rows { for c in 0..<cols { out.values[c * rows + r] = values[r * cols + c] } }
        return out
    }
}

extension Matrix {
    /// The identity scaled by `scale`.
    public static func identity(_ n: Int, scale: Float = 1) -> Matrix {
        var m = Matrix(zeros: n, n)
        for i in 0..<n { m[i, i] = scale }
        return m
    }

    /// `[self | other]`: the columns of both, side by side.
    public func concatenatingColumns(_ other: Matrix) -> Matrix {
        precondition(rows == other.rows, "concatenatingColumns: \(rows) and \(other.rows) rows")
        var out: [Float] = []; out.reserveCapacity(rows * (cols + other.cols))
        for r in 0..<rows { out.append(contentsOf: row(r)); out.append(contentsOf: other.row(r)) }
        return Matrix(rows: rows, cols: cols + other.cols, values: out)
    }

    /// Columns `range` as a new matrix.
    public func columns(_ range: Range<Int>) -> Matrix {
        var out: [Float] = []; out.reserveCapacity(rows * range.count)
        for r in 0..<rows { out.append(contentsOf: values[(r * cols + range.lowerBound)..<(r * cols + range.upperBound)]) }
        return Matrix(rows: rows, cols: range.count, values: out)
    }

    /// Every entry times `s`.
    public func scaled(by s: Float) -> Matrix { Matrix(rows: rows, cols: cols, values: values.map { $0 * s }) }

    /// X with `self·X = B` for a symmetric positive-definite `self` (LAPACK `sposv`, a Cholesky
    /// solve); nil if `self` is not positive definite.
    public func solvingSPD(_ B: Matrix) -> Matrix? {
        precondition(rows == cols && B.rows == rows, "solvingSPD: \(rows)×\(cols) against \(B.rows)×\(B.cols)")
        // Row-major symmetric A is its own column-major form; B row-major [n, m] is column-major
        // [m, n], so solve column-major for Bᵀ's transpose: pass Bᵀ (column-major n × m).
        var a = values, b = B.transposed.values
        var n = Int32(rows), nrhs = Int32(B.cols), lda = Int32(rows), ldb = Int32(rows), info: Int32 = 0
        var uplo = Int8(UInt8(ascii: "L"))
        sposv_(&uplo, &n, &nrhs, &a, &lda, &b, &ldb, &info)
        guard info == 0 else { return nil }
        return Matrix(rows: B.cols, cols: rows, values: b).transposed
    }
}

extension Matrix {
    /// The mean of each column.
    public var columnMeans: [Float] {
        var m = [Double](repeating: 0, count: cols)
        for r in 0..<rows { for c in 0..<cols { m[c] += Double(values[r * cols + c]) } }
        return m.map { Float($0 / Double(max(1, rows))) }
    }

    /// Every row minus `v`.
    public func subtractingRow(_ v: [Float]) -> Matrix {
        precondition(v.count == cols, "subtractingRow: \(v.count) values for \(cols) columns")
        var out = self
        for r in 0..<rows { for c in 0..<cols { out.values[r * cols + c] -= v[c] } }
        return out
    }
}
