import CBLAS

/// Row-major single-precision matrix products, all through OpenBLAS `cblas_sgemm`.
///
/// Every product in tllm — forward and both backward products — is one call of ``sgemm``;
/// transposes are expressed by flags and leading dimensions, never materialised.
public enum GEMM {
    /// `C[m×n] = alpha · op(A) · op(B) + beta · C`, row-major.
    ///
    /// - `op(A)` is `m×k`: `A` is `m×k` (lda ≥ k) or, with `transA`, `k×m` (lda ≥ m).
    /// - `op(B)` is `k×n`: `B` is `k×n` (ldb ≥ n) or, with `transB`, `n×k` (ldb ≥ k).
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C scaled by beta; do the same explicitly for clarity.
            for i in 0..<m {
                let row = c + i * ldc
                if beta == 0 { for j in 0..<n { row[j] = 0 } } else { for j in 0..<n { row[j] *= beta } }
            }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }
}
