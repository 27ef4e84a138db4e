// MARK: - Layer norm and RMS norm (fused, over the last axis)

extension Tensor {
    /// Layer normalization over the last axis: `(x − mean)/√(var + eps) · gamma + beta`.
    ///
    /// Forward saves the per-row mean and 1/σ; backward (as in llm.c):
    /// `dx = rstd·(dn − mean(dn) − n·mean(dn·n))` with `dn = dy·gamma`, and column sums for
    /// `dgamma = Σ dy·n`, `dbeta = Σ dy`.
    public func layerNorm(gamma: Tensor, beta: Tensor?, eps: Float = 1e-5) -> Tensor {
        let x = self
        let C = lastDim, R = rows
        check(gamma.count == C, "layerNorm: gamma \(gamma.shape) does not match last dimension \(C)")
        if let beta { check(beta.count == C, "layerNorm: beta \(beta.shape) does not match \(C)") }
        let out = Tensor(uninitialized: shape)
        let stats = Storage(count: 2 * R)  // [R] mean, then [R] rstd
        let mean = stats.pointer, rstd = stats.pointer + R
        let xp = x.data, yp = out.data, gp = gamma.data, bp = beta?.data
        Parallel.forRanges(R, grain: max(1, 8192 / C)) { r in
            for i in r {
                let row = xp + i * C, o = yp + i * C
                let m = VectorMath.sum(row, C) / Float(C)
                var v: Float = 0
                for j in 0..<C { let d = row[j] - m; v += d * d }
                let s = 1 / (v / Float(C) + eps).squareRoot()
                mean[i] = m; rstd[i] = s
                if let bp {
                    for j in 0..<C { o[j] = (row[j] - m) * s * gp[j] + bp[j] }
                } else {
                    for j in 0..<C { o[j] = (row[j] - m) * s * gp[j] }
                }
            }
        }
        let inputs = beta.map { [x, gamma, $0] } ?? [x, gamma]
        if Autograd.needsGrad(inputs) {
            Autograd.record(out, inputs: inputs) { out in
                withExtendedLifetime(stats) {}
                let dy = out.gradStorage!.pointer
                if x.requiresGrad {
                    x.withGradBuffer { dx, acc in
                        Parallel.forRanges(R, grain: max(1, 8192 / C)) { r in
                            for i in r {
                                let row = xp + i * C, g = dy + i * C, d = dx + i * C
                                let m = mean[i], s = rstd[i]
                                var sumDn: Float = 0, sumDnN: Float = 0
                                for j in 0..<C {
                                    let n = (row[j] - m) * s
                                    let dn = g[j] * gp[j]
                                    sumDn += dn; sumDnN += dn * n
                                }
                                let a = sumDn / Float(C), b = sumDnN / Float(C)
                                for j in 0..<C {
                                    let n = (row[j] - m) * s
                                    put(d, j, s * (g[j] * gp[j] - a - n * b), acc)
                                }
                            }
                        }
                    }
                }
                if gamma.requiresGrad || (beta?.requiresGrad ?? false) {
                    let needG = gamma.requiresGrad, needB = beta?.requiresGrad ?? false
                    let dgS = Storage(count: C), dbS = Storage(count: C)
                    let dg = dgS.pointer, db = dbS.pointer
                    Parallel.forRanges(C, grain: 16) { cr in
                        for j in cr { dg[j] = 0; db[j] = 0 }
                        for i in 0..<R {
                            let row = xp + i * C, g = dy + i * C
                            let m = mean[i], s = rstd[i]
                            for j in cr {
                                dg[j] += g[j] * (row[j] - m) * s
                                db[j] += g[j]
                            }
                        }
                    }
                    if needG { gamma.withGradBuffer { p, acc in for j in 0..<C { put(p, j, dg[j], acc) } } }
                    if needB, let beta { beta.withGradBuffer { p, acc in for j in 0..<C { put(p, j, db[j], acc) } } }
                }
            }
        }
        return out
    }

    /// RMS normalization over the last axis: `x / √(mean(x²) + eps) · gamma`.
    public func rmsNorm(gamma: Tensor, eps: Float = 1e-5) -> Tensor {
        let x = self
        let C = lastDim, R = rows
        check(gamma.count == C, "rmsNorm: gamma \(gamma.shape) does not match last dimension \(C)")
        let out = Tensor(uninitialized: shape)
        let rs = Storage(count: R)
        let rr = rs.pointer
        let xp = x.data, yp = out.data, gp = gamma.data
        Parallel.forRanges(R, grain: max(1, 8192 / C)) { r in
            for i in r {
                let row = xp + i * C, o = yp + i * C
                let ms = VectorMath.dot(row, row, C) / Float(C)
                let s = 1 / (ms + eps).squareRoot()
                rr[i] = s
                for j in 0..<C { o[j] = row[j] * s * gp[j] }
            }
        }
        if Autograd.needsGrad(x, gamma) {
            Autograd.record(out, inputs: [x, gamma]) { out in
                withExtendedLifetime(rs) {}
                let dy = out.gradStorage!.pointer
                if x.requiresGrad {
                    x.withGradBuffer { dx, acc in
                        Parallel.forRanges(R, grain: max(1, 8192 / C)) { r in
                            for i in r {
                                let row = xp + i * C, g = dy + i * C, d = dx + i * C
                                let s = rr[i]
                                var sumDnN: Float = 0
                                for j in 0..<C { sumDnN += g[j] * gp[j] * row[j] * s }
                                let b = sumDnN / Float(C)
                                for j in 0..<C {
                                    let n = row[j] * s
                                    put(d, j, s * (g[j] * gp[j] - n * b), acc)
                                }
                            }
                        }
                    }
                }
                if gamma.requiresGrad {
                    gamma.withGradBuffer { dg, acc in
                        Parallel.forRanges(C, grain: 16) { cr in
                            for j in cr {
                                var s: Float = 0
                                for i in 0..<R { s += dy[i * C + j] * xp[i * C + j] * rr[i] }
                                put(dg, j, s, acc)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
