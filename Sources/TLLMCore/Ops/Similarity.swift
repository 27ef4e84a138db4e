// MARK: - L2 normalization and cosine similarity (for contrastive losses)

extension Tensor {
    /// Scales each row (last axis) to unit Euclidean norm: `x / max(‖x‖, eps)`.
    public func l2Normalized(eps: Float = 1e-12) -> Tensor {
        let x = self
        let C = lastDim, R = rows
        let out = Tensor(uninitialized: shape)
        let norms = Storage(count: R)
        let np = norms.pointer, xp = x.data, yp = out.data
        Parallel.forRanges(R, grain: max(1, 8192 / max(1, C))) { r in
            for i in r {
                let row = xp + i * C
                let nrm = max(VectorMath.dot(row, row, C).squareRoot(), eps)
                np[i] = nrm
                for j in 0..<C { yp[i * C + j] = row[j] / nrm }
            }
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                withExtendedLifetime(norms) {}
                let dy = out.gradStorage!.pointer, y = out.data
                x.withGradBuffer { dx, acc in
                    Parallel.forRanges(R, grain: max(1, 8192 / max(1, C))) { r in
                        for i in r {
                            let g = dy + i * C, yr = y + i * C, d = dx + i * C
                            let nrm = np[i]
                            // Below eps the map is x/eps, a plain scaling.
                            let clamped = nrm <= eps
                            let dot = clamped ? 0 : VectorMath.dot(g, yr, C)
                            for j in 0..<C { put(d, j, (g[j] - yr[j] * dot) / nrm, acc) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Row-wise cosine similarity of two `[…, D]` tensors: `[…]`.
    public func cosineSimilarity(_ other: Tensor, eps: Float = 1e-8) -> Tensor {
        check(shape == other.shape, "cosineSimilarity: shapes differ: \(shape) vs \(other.shape)")
        return (l2Normalized(eps: eps) * other.l2Normalized(eps: eps)).sum(axis: -1)
    }

    /// All-pairs cosine similarities of the rows of `[N, D]` and `[M, D]`: `[N, M]`
    /// (normalise, then one sgemm).
    public func cosineSimilarityMatrix(_ other: Tensor, eps: Float = 1e-8) -> Tensor {
        l2Normalized(eps: eps).matmul(other.l2Normalized(eps: eps), transposeOther: true)
    }
}
