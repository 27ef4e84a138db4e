import Foundation

// MARK: - Batch normalization over axis 1 ([N, C] or [N, C, H, W])

extension Tensor {
    /// The normalization of one channel as `y = x·a + b`: `a = rstd·γ`, `b = β − μ·a`.
    @inline(__always)
    static func normAffine(_ rstd: Float, _ gamma: Float, _ beta: Float, _ mean: Float) -> (a: Float, b: Float) {
        let a = rstd * gamma
        return (a, beta - mean * a)
    }

    /// `x·a + b` (no fused multiply-add, so the SIMD and scalar forms agree bit for bit).
    @inline(__always) static func affine(_ x: SIMD16<Float>, _ a: Float, _ b: Float) -> SIMD16<Float> { x * a + b }
    @inline(__always) static func affine(_ x: Float, _ a: Float, _ b: Float) -> Float { x * a + b }

    /// `o[i] = p[i]·a + b` over `count` floats, clipped at 0 when `relu`.
    @inline(__always)
    static func normalize(_ p: UnsafePointer<Float>, _ count: Int, _ a: Float, _ b: Float, relu: Bool, into o: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 16 <= count {
            var v = affine(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self), a, b)
            if relu { v.replace(with: 0, where: v .< 0) }
            UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { let v = affine(p[i], a, b); o[i] = relu && v < 0 ? 0 : v; i += 1 }
    }

    /// Σ (p[i] − m)² (`squared`) or Σ (p[i] − m) over `count` floats, in SIMD16 lanes.
    @inline(__always)
    static func planeSum(_ p: UnsafePointer<Float>, _ count: Int, minus m: Float, squared: Bool) -> Float {
        var acc = SIMD16<Float>(), i = 0
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= count {
            let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - mv
            acc = squared ? acc.addingProduct(d, d) : acc + d
            i += 16
        }
        var r = VectorMath.treeSum(acc)
        while i < count { let d = p[i] - m; r += squared ? d * d : d; i += 1 }
        return r
    }

    /// (Σ g[i], Σ g[i]·(p[i] − m)) over `count` floats in SIMD16 lanes, with g[i] taken as 0
    /// where `p[i]·a + b ≤ 0` when `relu` = (a, b) is given (the gradient through a fused ReLU:
    /// the forward pass's pre-activation, recomputed with the same operations).
    @inline(__always)
    static func gradientSums(_ g: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ count: Int, _ m: Float,
                             relu: (a: Float, b: Float)?) -> (Float, Float) {
        var sg = SIMD16<Float>(), sgx = SIMD16<Float>(), i = 0
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= count {
            var gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            if let relu { gv.replace(with: 0, where: affine(pv, relu.a, relu.b) .<= 0) }
            sg += gv
            sgx = sgx.addingProduct(gv, pv - mv)
            i += 16
        }
        var a = VectorMath.treeSum(sg), b = VectorMath.treeSum(sgx)
        while i < count {
            let gi = relu.map { affine(p[i], $0.a, $0.b) <= 0 ? 0 : g[i] } ?? g[i]
            a += gi; b += gi * (p[i] - m); i += 1
        }
        return (a, b)
    }

    /// For every channel c, Σₙ value(n·C + c) in Double, n in order: the N·C planes are visited in
    /// contiguous parallel ranges (streaming memory, whatever the thread count), each writing its
    /// `k` values, which are then added per channel.
    static func planeTotals(N: Int, C: Int, k: Int, _ value: (Int, UnsafeMutablePointer<Float>) -> Void) -> [[Double]] {
        let parts = Storage(count: N * C * k)                                         // [N·C, k]
        Parallel.forRanges(N * C, grain: 16) { r in for nc in r { value(nc, parts.pointer + nc * k) } }
        var totals = [Double](repeating: 0, count: C * k)                           // [C, k]
        totals.withUnsafeMutableBufferPointer { t in
            for n in 0..<N {
                let row = parts.pointer + n * C * k
                for i in 0..<C * k { t[i] += Double(row[i]) }
            }
        }
        return (0..<k).map { j in (0..<C).map { totals[$0 * k + j] } }
    }

    /// `d[i] (+)= scale·g[i] + shift + slope·(p[i] − m)` over `count` floats in SIMD16 lanes, with
    /// g[i] taken as 0 where `p[i]·a + b ≤ 0` when `relu` = (a, b) is given.
    @inline(__always)
    static func inputGradient(_ g: UnsafePointer<Float>, _ p: UnsafePointer<Float>, relu: (a: Float, b: Float)?, _ count: Int,
                              scale: Float, shift: Float, slope: Float, mean m: Float,
                              into d: UnsafeMutablePointer<Float>, accumulate: Bool) {
        var i = 0
        let mv = SIMD16<Float>(repeating: m), sv = SIMD16<Float>(repeating: shift)
        while i + 16 <= count {
            var gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            if let relu { gv.replace(with: 0, where: affine(pv, relu.a, relu.b) .<= 0) }
            var v = (gv * scale + sv).addingProduct(pv - mv, slope)
            if accumulate { v += UnsafeRawPointer(d + i).loadUnaligned(as: SIMD16<Float>.self) }
            UnsafeMutableRawPointer(d + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            let gi = relu.map { affine(p[i], $0.a, $0.b) <= 0 ? 0 : g[i] } ?? g[i]
            put(d, i, gi * scale + shift + slope * (p[i] - m), accumulate)
            i += 1
        }
    }

    /// Batch normalization of channel axis 1: `(x − μ_c)/√(σ²_c + eps) · γ_c + β_c`.
    ///
    /// Training: μ, σ² are the batch statistics over N and the spatial positions (biased
    /// variance), and the running statistics move toward them, PyTorch's way:
    /// `r ← (1 − m)·r + m·batch` with the unbiased variance. Evaluation: the running statistics,
    /// which are constants for the gradient. Backward (training), per channel over its M values:
    /// `dx = rstd/M · (M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))` with `dx̂ = dy·γ`.
    ///
    /// `thenReLU` applies `max(·, 0)` to the output in the same pass (and masks the gradient by
    /// it): the numbers of `.relu()` after the normalization, one pass fewer each way.
    public func batchNorm(gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, thenReLU: Bool = false) -> Tensor {
        let x = self
        check(rank == 2 || rank == 4, "batchNorm: input \(shape) must be [N, C] or [N, C, H, W]")
        let N = shape[0], C = shape[1], S = rank == 4 ? shape[2] * shape[3] : 1, M = N * S
        check(gamma.count == C && beta.count == C && runningMean.count == C && runningVar.count == C, "batchNorm: parameters for \(C) channels")
        check(!training || M > 1, "batchNorm: training needs more than one value per channel (got \(M))")
        let stats = Storage(count: 2 * C)                                           // [C] mean, [C] rstd
        let mean = stats.pointer, rstd = stats.pointer + C
        let xp = x.data
        if training {
            // Two passes (the mean, then squared deviations from it: no cancellation), each plane in
            // SIMD, the planes added per channel in Double.
            let sums = Self.planeTotals(N: N, C: C, k: 1) { nc, out in out[0] = Self.planeSum(xp + nc * S, S, minus: 0, squared: false) }[0]
            for c in 0..<C { mean[c] = Float(sums[c] / Double(M)) }
            let devs = Self.planeTotals(N: N, C: C, k: 1) { nc, out in out[0] = Self.planeSum(xp + nc * S, S, minus: mean[nc % C], squared: true) }[0]
            for c in 0..<C {
                rstd[c] = Float(1 / (devs[c] / Double(M) + Double(eps)).squareRoot())
                runningMean.data[c] = (1 - momentum) * runningMean.data[c] + momentum * Float(sums[c] / Double(M))
                runningVar.data[c] = (1 - momentum) * runningVar.data[c] + momentum * Float(devs[c] / Double(M - 1))
            }
        } else {
            for c in 0..<C { mean[c] = runningMean.data[c]; rstd[c] = 1 / (runningVar.data[c] + eps).squareRoot() }
        }
        let out = Tensor(uninitialized: shape)
        let yp = out.data, gp = gamma.data, bp = beta.data
        Parallel.forRanges(N * C) { r in
            for nc in r {
                let c = nc % C, p = xp + nc * S, o = yp + nc * S
                let (a, b) = Self.normAffine(rstd[c], gp[c], bp[c], mean[c])
                Self.normalize(p, S, a, b, relu: thenReLU, into: o)
            }
        }
        if Autograd.needsGrad(x, gamma, beta) {
            Autograd.record(out, inputs: [x, gamma, beta]) { out in
                withExtendedLifetime(stats) {}                                      // mean and rstd live with the tape
                let dy = out.gradStorage!.pointer
                // The fused ReLU's mask comes from x again, through the forward pass's affine map.
                let relu = { (c: Int) in thenReLU ? Self.normAffine(rstd[c], gp[c], bp[c], mean[c]) : nil }
                // Per channel: Σdy and Σdy·x̂ (dy masked by the fused ReLU).
                let totals = Self.planeTotals(N: N, C: C, k: 2) { nc, out in
                    (out[0], out[1]) = Self.gradientSums(dy + nc * S, xp + nc * S, S, mean[nc % C], relu: relu(nc % C))
                }
                let sdy = totals[0].map { Float($0) }, sdyx = (0..<C).map { Float(totals[1][$0]) * rstd[$0] }
                if gamma.requiresGrad { gamma.withGradBuffer { d, acc in for c in 0..<C { put(d, c, sdyx[c], acc) } } }
                if beta.requiresGrad { beta.withGradBuffer { d, acc in for c in 0..<C { put(d, c, sdy[c], acc) } } }
                if x.requiresGrad {
                    x.withGradBuffer { dx, acc in
                        Parallel.forRanges(N * C) { r in
                            for nc in r {
                                let c = nc % C, at = nc * S, s = rstd[c], gm = gp[c]
                                // training: dx = s·(dy·γ − k1 − (x − μ)·s·k2); evaluation: dx = dy·γ·s
                                let k1 = training ? sdy[c] * gm / Float(M) : 0, k2 = training ? sdyx[c] * gm / Float(M) : 0
                                Self.inputGradient(dy + at, xp + at, relu: relu(c), S, scale: s * gm,
                                                   shift: -s * k1, slope: training ? -s * s * k2 : 0, mean: mean[c], into: dx + at, accumulate: acc)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

// MARK: - logsumexp and max along the last axis; softplus

extension Tensor {
    /// `log Σ_j exp(x_ij)` over the last axis: `[…, C]` → `[…]` (max-shifted); gradient softmax.
    public func logSumExp() -> Tensor {
        let x = self
        let C = lastDim, R = rows
        let out = Tensor(uninitialized: Array(shape.dropLast()))
        let xp = x.data, yp = out.data
        Parallel.forRanges(R, grain: max(1, 4096 / max(1, C))) { r in
            for i in r {
                let row = xp + i * C
                let m = VectorMath.max(row, C)
                var s: Float = 0
                for j in 0..<C { s += Foundation.exp(row[j] - m) }
                yp[i] = m + Foundation.log(s)
            }
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                let dy = out.gradStorage!.pointer
                x.withGradBuffer { dx, acc in
                    Parallel.forRanges(R, grain: max(1, 4096 / max(1, C))) { r in
                        for i in r {
                            let row = xp + i * C
                            for j in 0..<C { put(dx, i * C + j, dy[i] * Foundation.exp(row[j] - yp[i]), acc) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The maximum over the last axis: `[…, C]` → `[…]`; the gradient goes to the (first) maximum.
    public func rowMax() -> Tensor {
        let x = self
        let C = lastDim, R = rows
        let out = Tensor(uninitialized: Array(shape.dropLast()))
        var at = [Int](repeating: 0, count: R)
        let xp = x.data
        for i in 0..<R {
            var b = 0
            for j in 1..<C where xp[i * C + j] > xp[i * C + b] { b = j }
            at[i] = b; out.data[i] = xp[i * C + b]
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                let dy = out.gradStorage!.pointer
                x.withGradBuffer { dx, acc in
                    if !acc { dx.initialize(repeating: 0, count: R * C) }
                    for i in 0..<R { dx[i * C + at[i]] += dy[i] }
                }
            }
        }
        return out
    }

    /// `log(1 + eˣ)`, computed stably; gradient `σ(x)`.
    public func softplus() -> Tensor {
        let x = self
        let out = Tensor(uninitialized: shape)
        let xp = x.data, yp = out.data, n = count
        for i in 0..<n { let v = xp[i]; yp[i] = Swift.max(v, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(v))) }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                let dy = out.gradStorage!.pointer
                x.withGradBuffer { dx, acc in for i in 0..<n { put(dx, i, dy[i] / (1 + Foundation.exp(-xp[i])), acc) } }
            }
        }
        return out
    }
}
