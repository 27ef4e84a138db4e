import Foundation

/// Principal components of the rows of a matrix (an eigendecomposition of the covariance,
/// components ordered by variance, largest first).
public struct PCA: Sendable {
    public var mean: [Float]
    /// `[components, features]`.
    public var components: Matrix

    public init(_ X: Matrix, components k: Int) {
        mean = (0..<X.cols).map { j in (0..<X.rows).reduce(Float(0)) { $0 + X[$1, j] } / Float(X.rows) }
        var C = X
        for r in 0..<C.rows { for j in 0..<C.cols { C[r, j] -= mean[j] } }
        let V = C.times(C, transposeSelf: true).symmetricEigen().vectors
        components = V.rows(Array(0..<k))
    }

    /// `[n, features]` → `[n, k]`.
    public func transform(_ X: Matrix) -> Matrix {
        var C = X
        for r in 0..<C.rows { for j in 0..<C.cols { C[r, j] -= mean[j] } }
        return C.times(components, transposeOther: true)
    }
}
