import CBLAS

/// Pointer-level row kernels for inference paths that manage their own buffers (KV-cache
/// generation, feature extraction): no tensors, no tape, no allocation.
public enum RowKernels {
    /// Layer norm of `rows` rows of `cols` from `x` into `y` (may alias).
    public static func layerNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols C: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>?, eps: Float) {
        for i in 0..<rows {
            let r = x + i * C, o = y + i * C
            let m = VectorMath.sum(r, C) / Float(C)
            var v: Float = 0
            for j in 0..<C { let d = r[j] - m; v += d * d }
            let s = 1 / (v / Float(C) + eps).squareRoot()
            if let beta { for j in 0..<C { o[j] = (r[j] - m) * s * gamma[j] + beta[j] } } else {
                for j in 0..<C { o[j] = (r[j] - m) * s * gamma[j] }
            }
        }
    }

    /// RMS norm of rows.
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols C: Int,
                               gamma: UnsafePointer<Float>, eps: Float) {
        for i in 0..<rows {
            let r = x + i * C, o = y + i * C
            let s = 1 / (VectorMath.dot(r, r, C) / Float(C) + eps).squareRoot()
            for j in 0..<C { o[j] = r[j] * s * gamma[j] }
        }
    }

    /// In-place GELU (tanh form).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.map(x, x, count, Activation.gelu)
    }

    /// In-place `silu(a) ⊙ b` into `a`.
    /// Sixteen lanes at a time; each lane computes exactly what the scalar form does.
    public static func swiglu(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        typealias V = VectorMath.V
        var i = 0
        while i + V.scalarCount <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
            let s = x / (1 + VectorMath.exp(-x))
            UnsafeMutableRawPointer(a + i).storeBytes(of: s * UnsafeRawPointer(b + i).loadUnaligned(as: V.self), as: V.self)
            i += V.scalarCount
        }
        while i < count {
            let s = a[i] / (1 + VectorMath.exp(-a[i]))
            a[i] = s * b[i]
            i += 1
        }
    }

    /// In-place softmax of one row of `n` (entries past `valid` are set to 0).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int, valid: Int? = nil) {
        let v = valid ?? n
        let m = VectorMath.max(x, v)
        let s = VectorMath.expShiftSum(x, x, v, shift: m)
        VectorMath.scale(x, v, by: 1 / s)
        if v < n { (x + v).update(repeating: 0, count: n - v) }
    }

    /// `y[i] += x[i]`.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// Copies `bias` into each of `rows` rows of `y` (so that an sgemm with beta = 1 adds to it).
    public static func fillRows(_ y: UnsafeMutablePointer<Float>, rows: Int, with bias: UnsafePointer<Float>, cols: Int) {
        for i in 0..<rows { (y + i * cols).update(from: bias, count: cols) }
    }

    /// A bias into each of `rows` rows of `y` (`ldy` apart): copied (so that a product with
    /// beta = 1 adds to it), or added when `accumulate`.
    @inline(__always)
    public static func addBias(_ b: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, cols: Int, ldy: Int, accumulate: Bool) {
        for i in 0..<rows {
            if accumulate { add(b, into: y + i * ldy, count: cols) } else { (y + i * ldy).update(from: b, count: cols) }
        }
    }

    /// `y[rows × out] (+)= x[rows × in] · Wᵀ` with W `[out, in]` (row-major, `ldw` ≥ in).
    ///
    /// One row is a matrix–vector product and goes to `cblas_sgemv`, which reads W in place; more
    /// rows go to `cblas_sgemm`. (OpenBLAS 0.3.21's sgemm packs all of W even for one row, which
    /// makes batch-1 decoding several times slower.)
    @inline(__always)
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, in inF: Int, weight w: UnsafePointer<Float>, ldw: Int? = nil,
                              out outF: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool) {
        let lw = ldw ?? inF
        if rows == 1 {
            // (one row: ldy does not matter)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outF), Int32(inF), 1, w, Int32(lw), x, 1, accumulate ? 1 : 0, y, 1)
        } else {
            GEMM.sgemm(transB: true, m: rows, n: outF, k: inF, a: x, lda: inF, b: w, ldb: lw,
                       beta: accumulate ? 1 : 0, c: y, ldc: ldy ?? outF)
        }
    }
}
