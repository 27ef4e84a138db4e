import CBLAS
import Foundation

/// Eigenvalues of small dense matrices through the LAPACK routines OpenBLAS exports.
public enum Eigenvalues {
    /// The (complex) eigenvalues of a general real `n × n` matrix, row-major (LAPACK `sgeev`, no
    /// eigenvectors). A matrix and its transpose share eigenvalues, so row- vs column-major does
    /// not matter. Nil if LAPACK fails to converge.
    public static func general(_ a: [Float], n: Int) -> [(re: Float, im: Float)]? {
        precondition(a.count == n * n && n > 0, "Eigenvalues.general: \(a.count) values for \(n)×\(n)")
        var m = a
        var nn = Int32(n), lda = Int32(n), one: Int32 = 1, info: Int32 = 0
        var wr = [Float](repeating: 0, count: n), wi = wr
        var no = Int8(UInt8(ascii: "N"))
        var vl: Float = 0, vr: Float = 0
        var lwork: Int32 = -1, size: Float = 0
        sgeev_(&no, &no, &nn, &m, &lda, &wr, &wi, &vl, &one, &vr, &one, &size, &lwork, &info)
        lwork = max(Int32(size), 4 * Int32(n))
        var work = [Float](repeating: 0, count: Int(lwork))
        sgeev_(&no, &no, &nn, &m, &lda, &wr, &wi, &vl, &one, &vr, &one, &work, &lwork, &info)
        guard info == 0 else { return nil }
        return zip(wr, wi).map { ($0, $1) }
    }
}
