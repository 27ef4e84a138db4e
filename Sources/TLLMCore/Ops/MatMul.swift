// MARK: - Matrix products (all through cblas_sgemm)

extension Tensor {
    /// `self · other`, with optional transposes of either operand (flags, never copies).
    ///
    /// - 2-D × 2-D: `[M, K] · [K, N] → [M, N]`.
    /// - N-D × 2-D: the leading dimensions of `self` are flattened into rows, `[…, K] · [K, N] → […, N]`
    ///   (one sgemm).
    /// - batched: `[B, M, K] · [B, K, N] → [B, M, N]`, one sgemm per batch entry.
    ///
    /// The backward pass computes `dA = dC·op(B)ᵀ` and `dB = op(A)ᵀ·dC`, one sgemm each, only for
    /// operands that need a gradient.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        if rank >= 3 && other.rank >= 3 {
            return batchedMatmul(other, transposeSelf: transposeSelf, transposeOther: transposeOther)
        }
        check(other.rank == 2, "matmul: right operand must be 2-D or batched, got \(other.shape)")
        let a = self, b = other
        let M: Int, K: Int
        if transposeSelf {
            check(rank == 2, "matmul: transposeSelf needs a 2-D left operand, got \(shape)")
            K = shape[0]; M = shape[1]
        } else {
            K = lastDim; M = rows
        }
        let N = transposeOther ? b.shape[0] : b.shape[1]
        let Kb = transposeOther ? b.shape[1] : b.shape[0]
        check(K == Kb, "matmul: inner dimensions differ: \(shape)\(transposeSelf ? "ᵀ" : "") · \(b.shape)\(transposeOther ? "ᵀ" : "")")
        let outShape = transposeSelf ? [M, N] : Array(shape.dropLast()) + [N]
        let out = Tensor(uninitialized: outShape)
        let lda = transposeSelf ? M : K, ldb = transposeOther ? K : N
        GEMM.sgemm(transA: transposeSelf, transB: transposeOther, m: M, n: N, k: K,
                   a: a.data, lda: lda, b: b.data, ldb: ldb, c: out.data, ldc: N)
        if Autograd.needsGrad(a, b) {
            let ta = transposeSelf, tb = transposeOther
            Autograd.record(out, inputs: [a, b]) { out in
                let dC = out.gradStorage!.pointer
                Tensor.matmulBackward(a: a, b: b, dC: dC, M: M, N: N, K: K, lda: lda, ldb: ldb, ta: ta, tb: tb)
            }
        }
        return out
    }

    /// Gradients of `C = op(A)·op(B)` for one product (shared by the 2-D and batched forms).
    @inline(__always)
    static func matmulBackward(a: Tensor, b: Tensor, dC: UnsafePointer<Float>, M: Int, N: Int, K: Int,
                               lda: Int, ldb: Int, ta: Bool, tb: Bool,
                               aOffset: Int = 0, bOffset: Int = 0, cOffset: Int = 0,
                               accumulateA: Bool? = nil, accumulateB: Bool? = nil) {
        if a.requiresGrad {
            a.withGradBuffer { dA, acc0 in
                let acc = accumulateA ?? acc0
                if !ta {
                    // dA[M×K] = dC[M×N] · op(B)ᵀ
                    GEMM.sgemm(transA: false, transB: !tb, m: M, n: K, k: N, a: dC + cOffset, lda: N,
                               b: b.data + bOffset, ldb: ldb, beta: acc ? 1 : 0, c: dA + aOffset, ldc: lda)
                } else {
                    // A is stored K×M: dA = op(B) · dCᵀ
                    GEMM.sgemm(transA: tb, transB: true, m: K, n: M, k: N, a: b.data + bOffset, lda: ldb,
                               b: dC + cOffset, ldb: N, beta: acc ? 1 : 0, c: dA + aOffset, ldc: lda)
                }
            }
        }
        if b.requiresGrad {
            b.withGradBuffer { dB, acc0 in
                let acc = accumulateB ?? acc0
                if !tb {
                    // dB[K×N] = op(A)ᵀ · dC
                    GEMM.sgemm(transA: !ta, transB: false, m: K, n: N, k: M, a: a.data + aOffset, lda: lda,
                               b: dC + cOffset, ldb: N, beta: acc ? 1 : 0, c: dB + bOffset, ldc: ldb)
                } else {
                    // B is stored N×K: dB = dCᵀ · op(A)
                    GEMM.sgemm(transA: true, transB: ta, m: N, n: K, k: M, a: dC + cOffset, lda: N,
                               b: a.data + aOffset, ldb: lda, beta: acc ? 1 : 0, c: dB + bOffset, ldc: ldb)
                }
            }
        }
    }

    private func batchedMatmul(_ other: Tensor, transposeSelf ta: Bool, transposeOther tb: Bool) -> Tensor {
        let a = self, b = other
        check(rank == other.rank && Array(shape.dropLast(2)) == Array(other.shape.dropLast(2)),
              "batched matmul: batch dimensions differ: \(shape) · \(other.shape)")
        let batch = Array(shape.dropLast(2)).elementCount
        let ar = shape[rank - 2], ac = shape[rank - 1]
        let br = other.shape[rank - 2], bc = other.shape[rank - 1]
        let M = ta ? ac : ar, K = ta ? ar : ac
        let N = tb ? br : bc, Kb = tb ? bc : br
        check(K == Kb, "batched matmul: inner dimensions differ: \(shape) · \(other.shape)")
        let out = Tensor(uninitialized: Array(shape.dropLast(2)) + [M, N])
        let lda = ac, ldb = bc
        for i in 0..<batch {
            GEMM.sgemm(transA: ta, transB: tb, m: M, n: N, k: K,
                       a: a.data + i * ar * ac, lda: lda, b: b.data + i * br * bc, ldb: ldb,
                       c: out.data + i * M * N, ldc: N)
        }
        if Autograd.needsGrad(a, b) {
            Autograd.record(out, inputs: [a, b]) { out in
                let dC = out.gradStorage!.pointer
                // Decide "first write" once for the whole batch, then keep it per entry.
                let accA = a.gradStorage != nil, accB = b.gradStorage != nil
                if a.requiresGrad && !accA { a.withGradBuffer { _, _ in } }
                if b.requiresGrad && !accB { b.withGradBuffer { _, _ in } }
                for i in 0..<batch {
                    Tensor.matmulBackward(a: a, b: b, dC: dC, M: M, N: N, K: K, lda: lda, ldb: ldb, ta: ta, tb: tb,
                                          aOffset: i * ar * ac, bOffset: i * br * bc, cOffset: i * M * N,
                                          accumulateA: accA, accumulateB: accB)
                }
            }
        }
        return out
    }

    /// A fully connected layer: `self · weightᵀ + bias` with `weight` stored `[out, in]`
    /// (PyTorch's `nn.Linear` layout). `self` is `[…, in]`; the result is `[…, out]`.
    public func linear(_ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
        let x = self
        check(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        let inF = weight.shape[1], outF = weight.shape[0]
        check(lastDim == inF, "linear: input \(shape) does not end in \(inF) (weight \(weight.shape))")
        if let bias { check(bias.count == outF, "linear: bias \(bias.shape) does not match \(outF) outputs") }
        let n = rows
        let out = Tensor(uninitialized: Array(shape.dropLast()) + [outF])
        let y = out.data
        var beta: Float = 0
        if let bias {
            let bp = bias.data
            Parallel.forRanges(n, grain: max(1, 16384 / max(1, outF))) { r in
                for i in r { (y + i * outF).update(from: bp, count: outF) }
            }
            beta = 1
        }
        GEMM.sgemm(transA: false, transB: true, m: n, n: outF, k: inF,
                   a: x.data, lda: inF, b: weight.data, ldb: inF, beta: beta, c: y, ldc: outF)
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        if Autograd.needsGrad(inputs) {
            Autograd.record(out, inputs: inputs) { out in
                let dY = out.gradStorage!.pointer
                if x.requiresGrad {
                    // dX[n×in] = dY[n×out] · W[out×in]
                    x.withGradBuffer { dX, acc in
                        GEMM.sgemm(m: n, n: inF, k: outF, a: dY, lda: outF, b: weight.data, ldb: inF,
                                   beta: acc ? 1 : 0, c: dX, ldc: inF)
                    }
                }
                if weight.requiresGrad {
                    // dW[out×in] = dYᵀ[out×n] · X[n×in]
                    weight.withGradBuffer { dW, acc in
                        GEMM.sgemm(transA: true, m: outF, n: inF, k: n, a: dY, lda: outF, b: x.data, ldb: inF,
                                   beta: acc ? 1 : 0, c: dW, ldc: inF)
                    }
                }
                if let bias, bias.requiresGrad {
                    bias.withGradBuffer { dB, acc in columnSums(dY, rows: n, cols: outF, into: dB, accumulate: acc) }
                }
            }
        }
        return out
    }
}
