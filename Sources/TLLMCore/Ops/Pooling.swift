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
        let OH = g.outHeight, OW = g.outWidth
        let out = Tensor(uninitialized: [N, C, OH, OW])
        let arg = useMax ? Storage(count: out.count) : nil                         // index of each max within its plane (< H·W, exact in Float)
        let xp = x.data, yp = out.data, ap = arg?.pointer
        let scale = 1 / Float(k * k)
        Parallel.forRanges(N * C) { r in
            for plane in r {
                let src = xp + plane * H * W
                for oy in 0..<OH { for ox in 0..<OW {
                    let o = (plane * OH + oy) * OW + ox
                    var best = -Float.infinity, at = 0, sum: Float = 0
                    for ky in 0..<k { for kx in 0..<k {
                        let i = (oy * s + ky) * W + ox * s + kx
                        let v = src[i]
                        if v > best { best = v; at = i }
                        sum += v
                    } }
                    if let ap { yp[o] = best; ap[o] = Float(at) } else { yp[o] = sum * scale }
                } }
            }
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                withExtendedLifetime(arg) {}                                        // keeps the argmax alive with the tape
                let dy = out.gradStorage!.pointer
                x.withGradBuffer { dx, acc in
                    Parallel.forRanges(N * C) { r in
                        for plane in r {
                            let d = dx + plane * H * W
                            if !acc { d.initialize(repeating: 0, count: H * W) }
                            for oy in 0..<OH { for ox in 0..<OW {
                                let o = (plane * OH + oy) * OW + ox
                                if let ap { d[Int(ap[o])] += dy[o]; continue }
                                for ky in 0..<k { for kx in 0..<k { d[(oy * s + ky) * W + ox * s + kx] += dy[o] * scale } }
                            } }
                        }
                    }
                }
            }
        }
        return out
    }
}
