import Foundation

// MARK: - Batch normalization over axis 1 ([N, C] or [N, C, H, W])

extension Tensor {
    /// Σ p[i] over `count` floats into SIMD16 lanes.
    @inline(__always)
    static func plainSum(_ p: UnsafePointer<Float>, _ count: Int, into sum: inout LaneSum) {
        var i = 0
        while i + 16 <= count { sum.lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
        while i < count { sum.add(p[i]); i += 1 }
        sum.endPlane()
    }

    /// Σ (p[i] − m)² over `count` floats into SIMD16 lanes (two-pass variance, no cancellation).
    @inline(__always)
    static func squaredDeviation(_ p: UnsafePointer<Float>, _ count: Int, from m: Float, into sum: inout LaneSum) {
        var i = 0
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= count {
            let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - mv
            sum.lanes = sum.lanes.addingProduct(d, d)
            i += 16
        }
        while i < count { let d = p[i] - m; sum.add(d * d); i += 1 }
        sum.endPlane()
    }

    /// Σ g[i] and Σ g[i]·(p[i] − m) over `count` floats into SIMD16 lanes, with g[i] taken as 0
    /// where `relu[i] ≤ 0` when `relu` is given (the gradient through a fused ReLU whose output
    /// is `relu`).
    @inline(__always)
    static func gradientSums(_ g: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ count: Int, _ m: Float,
                             relu: UnsafePointer<Float>?, into sg: inout LaneSum, _ sgx: inout LaneSum) {
        var i = 0
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= count {
            var gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            if let relu { gv.replace(with: 0, where: UnsafeRawPointer(relu + i).loadUnaligned(as: SIMD16<Float>.self) .<= 0) }
            sg.lanes += gv
            sgx.lanes = sgx.lanes.addingProduct(gv, UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - mv)
            i += 16
        }
        while i < count {
            let gi = relu.map { $0[i] <= 0 ? 0 : g[i] } ?? g[i]
            sg.add(gi); sgx.add(gi * (p[i] - m)); i += 1
        }
        sg.endPlane(); sgx.endPlane()
    }

    /// `d[i] (+)= scale·g[i] + shift + slope·(p[i] − m)` over `count` floats in SIMD16 lanes, with
    /// g[i] taken as 0 where `relu[i] ≤ 0` when `relu` is given.
    @inline(__always)
    static func inputGradient(_ g: UnsafePointer<Float>, _ p: UnsafePointer<Float>, relu: UnsafePointer<Float>?, _ count: Int,
                              scale: Float, shift: Float, slope: Float, mean m: Float,
                              into d: UnsafeMutablePointer<Float>, accumulate: Bool) {
        var i = 0
        let mv = SIMD16<Float>(repeating: m), sv = SIMD16<Float>(repeating: shift)
        while i + 16 <= count {
            var gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            if let relu { gv.replace(with: 0, where: UnsafeRawPointer(relu + i).loadUnaligned(as: SIMD16<Float>.self) .<= 0) }
            var v = (gv * scale + sv).addingProduct(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - mv, slope)
            if accumulate { v += UnsafeRawPointer(d + i).loadUnaligned(as: SIMD16<Float>.self) }
            UnsafeMutableRawPointer(d + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            let gi = relu.map { $0[i] <= 0 ? 0 : g[i] } ?? g[i]
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
        Parallel.forRanges(C) { r in
            for c in r {
                if training {
                    // The planes' sums in SIMD16 lanes, flushed to Double every 64 planes.
                    var s = LaneSum()
                    for n in 0..<N { Self.plainSum(xp + (n * C + c) * S, S, into: &s) }
                    let m = s.value / Double(M), mf = Float(m)
                    var dev = LaneSum()
                    for n in 0..<N { Self.squaredDeviation(xp + (n * C + c) * S, S, from: mf, into: &dev) }
                    let v = dev.value
                    mean[c] = Float(m); rstd[c] = Float(1 / (v / Double(M) + Double(eps)).squareRoot())
                    runningMean.data[c] = (1 - momentum) * runningMean.data[c] + momentum * Float(m)
                    runningVar.data[c] = (1 - momentum) * runningVar.data[c] + momentum * Float(v / Double(M - 1))
                } else {
                    mean[c] = runningMean.data[c]; rstd[c] = 1 / (runningVar.data[c] + eps).squareRoot()
                }
            }
        }
        let out = Tensor(uninitialized: shape)
        let yp = out.data, gp = gamma.data, bp = beta.data
        Parallel.forRanges(N * C) { r in
            for nc in r {
                let c = nc % C, p = xp + nc * S, o = yp + nc * S
                let a = rstd[c] * gp[c], b = bp[c] - mean[c] * a
                if thenReLU {
                    for i in 0..<S { let v = p[i] * a + b; o[i] = v < 0 ? 0 : v }
                } else {
                    for i in 0..<S { o[i] = p[i] * a + b }
                }
            }
        }
        if Autograd.needsGrad(x, gamma, beta) {
            Autograd.record(out, inputs: [x, gamma, beta]) { out in
                withExtendedLifetime(stats) {}                                      // mean and rstd live with the tape
                let dy = out.gradStorage!.pointer, relu = thenReLU ? UnsafePointer(out.data) : nil
                // Per channel: Σdy and Σdy·x̂ (dy masked by the fused ReLU).
                let sums = Storage(count: 2 * C)
                let sdy = sums.pointer, sdyx = sums.pointer + C
                Parallel.forRanges(C) { r in
                    for c in r {
                        // In SIMD16 lanes over the planes: Σdy and Σdy·(x − μ).
                        var a = LaneSum(), b = LaneSum()
                        for n in 0..<N {
                            let at = (n * C + c) * S
                            Self.gradientSums(dy + at, xp + at, S, mean[c], relu: relu.map { $0 + at }, into: &a, &b)
                        }
                        sdy[c] = Float(a.value); sdyx[c] = Float(b.value) * rstd[c]
                    }
                }
                if gamma.requiresGrad { gamma.withGradBuffer { d, acc in for c in 0..<C { put(d, c, sdyx[c], acc) } } }
                if beta.requiresGrad { beta.withGradBuffer { d, acc in for c in 0..<C { put(d, c, sdy[c], acc) } } }
                if x.requiresGrad {
                    x.withGradBuffer { dx, acc in
                        Parallel.forRanges(N * C) { r in
                            for nc in r {
                                let c = nc % C, at = nc * S, s = rstd[c], gm = gp[c]
                                // training: dx = s·(dy·γ − k1 − (x − μ)·s·k2); evaluation: dx = dy·γ·s
                                let k1 = training ? sdy[c] * gm / Float(M) : 0, k2 = training ? sdyx[c] * gm / Float(M) : 0
                                Self.inputGradient(dy + at, xp + at, relu: relu.map { $0 + at }, S, scale: s * gm,
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

/// A sum in SIMD16 lanes over many short planes, flushed into a Double every 64 planes: the speed
/// of lane sums, the accuracy of a Double total over a long channel, and a fixed order.
struct LaneSum {
    var lanes = SIMD16<Float>()
    private var total = 0.0, planes = 0

    /// A scalar (a plane's tail).
    @inline(__always) mutating func add(_ v: Float) { total += Double(v) }

    /// Marks the end of a plane.
    @inline(__always) mutating func endPlane() {
        planes += 1
        if planes & 63 == 0 { total += Double(VectorMath.treeSum(lanes)); lanes = SIMD16<Float>() }
    }

    var value: Double { total + Double(VectorMath.treeSum(lanes)) }
}
