// MARK: - Pooling over images [N, C, H, W]

extension Tensor {
    /// Max pooling over `k × k` windows with stride `stride` (default `k`), no padding:
    /// `[N, C, H, W]` → `[N, C, OH, OW]`; the gradient goes to each window's (first) maximum.
    public func maxPool2d(_ k: Int, stride: Int? = nil) -> Tensor {
        pool(k, stride: stride ?? k, max: true)
    }

    /// Average pooling over `k × k` windows with stride `stride` (default `k`), no padding.
    public func avgPool2d(_ k: Int, stride: Int? = nil) -> Tensor {
        pool(k, stride: stride ?? k, max: false)
    }

    /// The mean of every channel over its positions: `[N, C, H, W]` → `[N, C]`.
    public func globalAvgPool() -> Tensor {
        check(rank == 4, "globalAvgPool: input \(shape) must be [N, C, H, W]")
        return reshaped([shape[0] * shape[1], shape[2] * shape[3]]).mean(axis: -1).reshaped([shape[0], shape[1]])
    }

    private func pool(_ k: Int, stride s: Int, max useMax: Bool) -> Tensor {
        let x = self
        check(rank == 4, "pool2d: input \(shape) must be [N, C, H, W]")
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        check(k >= 1 && s >= 1 && k <= H && k <= W && H * W < 1 << 24, "pool2d: window \(k) stride \(s) on \(H)×\(W)")
        let g = ConvGeometry(channels: 1, height: H, width: W, kernel: k, stride: s)
        let out = Tensor(uninitialized: [N, C, g.outHeight, g.outWidth])
        let arg = useMax ? Storage(count: out.count) : nil                         // index of each max within its plane (< H·W, exact in Float)
        let xp = x.data, yp = out.data, ap = arg?.pointer
        Parallel.forRanges(N * C) { r in
            for plane in r {
                let src = xp + plane * H * W, o = plane * g.positions
                if let ap {
                    if k == 2 && s == 2 && W % 8 == 0 { Pooling.max2x2(src, g, yp + o, ap + o) } else { Pooling.maxWindows(src, g, yp + o, ap + o) }
                } else {
                    Pooling.averageWindows(src, g, yp + o)
                }
            }
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                withExtendedLifetime(arg) {}                                        // keeps the argmax alive with the tape
                let dy = out.gradStorage!.pointer
                x.withGradBuffer { dx, acc in
                    Parallel.forRanges(N * C) { r in
                        for plane in r {
                            let d = dx + plane * H * W, gy = dy + plane * g.positions
                            if let ap { Pooling.maxBackward(gy, ap + plane * g.positions, g, into: d, accumulate: acc) }
                            else { Pooling.averageBackward(gy, g, into: d, accumulate: acc) }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// One image plane's pooling windows, forward and backward.
enum Pooling {
    /// `y[o]` = the window's maximum, `arg[o]` = its index in the plane (the first maximum in
    /// row-major order; a NaN in the window's first place propagates).
    static func maxWindows(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>, _ arg: UnsafeMutablePointer<Float>) {
        let (k, s, W, OW) = (g.kernel, g.stride, g.width, g.outWidth)
        for oy in 0..<g.outHeight { for ox in 0..<OW {
            var at = oy * s * W + ox * s, best = x[at]
            for ky in 0..<k { for kx in 0..<k {
                let i = (oy * s + ky) * W + ox * s + kx
                if x[i] > best { best = x[i]; at = i }
            } }
            y[oy * OW + ox] = best; arg[oy * OW + ox] = Float(at)
        } }
    }

    /// `maxWindows` for 2×2 windows with stride 2 on rows of a multiple of 8: four outputs at a
    /// time from two SIMD8 loads (even and odd lanes are the window's left and right columns).
    static func max2x2(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>, _ arg: UnsafeMutablePointer<Float>) {
        let W = g.width, OW = g.outWidth
        let twice = SIMD4<Float>(0, 2, 4, 6)
        for oy in 0..<g.outHeight {
            for x0 in stride(from: 0, to: W, by: 8) {
                let top = UnsafeRawPointer(x + 2 * oy * W + x0).loadUnaligned(as: SIMD8<Float>.self)
                let bottom = UnsafeRawPointer(x + (2 * oy + 1) * W + x0).loadUnaligned(as: SIMD8<Float>.self)
                let left = SIMD4<Float>(repeating: Float(2 * oy * W + x0)) + twice
                var best = top.evenHalf, at = left
                @inline(__always) func consider(_ v: SIMD4<Float>, _ offset: Int) {
                    let more = v .> best
                    best.replace(with: v, where: more)
                    at.replace(with: left + Float(offset), where: more)
                }
                consider(top.oddHalf, 1); consider(bottom.evenHalf, W); consider(bottom.oddHalf, W + 1)
                UnsafeMutableRawPointer(y + oy * OW + x0 / 2).storeBytes(of: best, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(arg + oy * OW + x0 / 2).storeBytes(of: at, as: SIMD4<Float>.self)
            }
        }
    }

    /// The window means.
    static func averageWindows(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>) {
        let (k, s, W, OW) = (g.kernel, g.stride, g.width, g.outWidth), scale = 1 / Float(k * k)
        for oy in 0..<g.outHeight { for ox in 0..<OW {
            var sum: Float = 0
            for ky in 0..<k { for kx in 0..<k { sum += x[(oy * s + ky) * W + ox * s + kx] } }
            y[oy * OW + ox] = sum * scale
        } }
    }

    /// Each output's gradient onto its window's maximum. 2×2 windows with stride 2 write every
    /// pixel once; other windows zero the plane and add.
    static func maxBackward(_ dy: UnsafePointer<Float>, _ arg: UnsafePointer<Float>, _ g: ConvGeometry, into d: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let W = g.width, OW = g.outWidth
        guard g.kernel == 2 && g.stride == 2 && g.height % 2 == 0 && W % 2 == 0 && !accumulate else {
            if !accumulate { d.initialize(repeating: 0, count: g.height * W) }
            for o in 0..<g.positions { d[Int(arg[o])] += dy[o] }
            return
        }
        for oy in 0..<g.outHeight {
            let top = d + 2 * oy * W, bottom = top + W
            var ox = 0
            while W % 8 == 0 && ox + 4 <= OW {                                    // four windows: two SIMD8 rows
                let o = oy * OW + ox, v = UnsafeRawPointer(dy + o).loadUnaligned(as: SIMD4<Float>.self)
                let at = UnsafeRawPointer(arg + o).loadUnaligned(as: SIMD4<Float>.self) - Float(2 * oy * W + 2 * ox) - SIMD4<Float>(0, 2, 4, 6)
                let zero = SIMD4<Float>()
                let tl = zero.replacing(with: v, where: at .== 0), tr = zero.replacing(with: v, where: at .== 1)
                let bl = zero.replacing(with: v, where: at .== Float(W)), br = zero.replacing(with: v, where: at .== Float(W + 1))
                UnsafeMutableRawPointer(top + 2 * ox).storeBytes(of: interleave(tl, tr), as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(bottom + 2 * ox).storeBytes(of: interleave(bl, br), as: SIMD8<Float>.self)
                ox += 4
            }
            while ox < OW {
                let o = oy * OW + ox, v = dy[o], at = Int(arg[o]) - 2 * oy * W - 2 * ox    // 0, 1, W or W + 1
                top[2 * ox] = at == 0 ? v : 0; top[2 * ox + 1] = at == 1 ? v : 0
                bottom[2 * ox] = at == W ? v : 0; bottom[2 * ox + 1] = at == W + 1 ? v : 0
                ox += 1
            }
        }
    }

    /// (a₀, b₀, a₁, b₁, a₂, b₂, a₃, b₃).
    @inline(__always)
    static func interleave(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD8<Float> {
        SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3])
    }

    /// Each output's gradient spread evenly over its window.
    static func averageBackward(_ dy: UnsafePointer<Float>, _ g: ConvGeometry, into d: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (k, s, W, OW) = (g.kernel, g.stride, g.width, g.outWidth), scale = 1 / Float(k * k)
        if !accumulate { d.initialize(repeating: 0, count: g.height * W) }
        for oy in 0..<g.outHeight { for ox in 0..<OW {
            for ky in 0..<k { for kx in 0..<k { d[(oy * s + ky) * W + ox * s + kx] += dy[oy * OW + ox] * scale } }
        } }
    }
}
