// MARK: - 2-D convolution and pooling over images [N, C, H, W] (row-major, NCHW)

/// The shape arithmetic of a square-kernel convolution or pooling window.
public struct ConvGeometry: Equatable, Sendable {
    public var channels: Int, height: Int, width: Int
    public var kernel: Int, stride: Int, padding: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.channels = channels; self.height = height; self.width = width
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Output positions per image.
    public var positions: Int { outHeight * outWidth }
    /// Values under one window: C·k·k.
    public var patch: Int { channels * kernel * kernel }
}

enum Im2Col {
    /// `cols[n·P + p, (c·k + ky)·k + kx] = x[n, c, oy·s − pad + ky, ox·s − pad + kx]` (0 outside).
    static func expand(_ x: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, into cols: UnsafeMutablePointer<Float>) {
        let (C, H, W, k, s, pad) = (g.channels, g.height, g.width, g.kernel, g.stride, g.padding)
        let OW = g.outWidth, P = g.positions, K = g.patch
        Parallel.forRanges(N) { r in
            for n in r {
                for p in 0..<P {
                    let oy = p / OW, ox = p % OW
                    let row = cols + (n * P + p) * K
                    for c in 0..<C {
                        let plane = x + (n * C + c) * H * W
                        for ky in 0..<k {
                            let iy = oy * s - pad + ky
                            for kx in 0..<k {
                                let ix = ox * s - pad + kx
                                row[(c * k + ky) * k + kx] = iy >= 0 && iy < H && ix >= 0 && ix < W ? plane[iy * W + ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `expand`: adds every column entry back onto the pixel it came from.
    static func fold(_ cols: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, H, W, k, s, pad) = (g.channels, g.height, g.width, g.kernel, g.stride, g.padding)
        let OW = g.outWidth, P = g.positions, K = g.patch
        Parallel.forRanges(N) { r in
            for n in r {
                let image = dx + n * C * H * W
                if !accumulate { image.initialize(repeating: 0, count: C * H * W) }
                for p in 0..<P {
                    let oy = p / OW, ox = p % OW
                    let row = cols + (n * P + p) * K
                    for c in 0..<C {
                        let plane = image + c * H * W
                        for ky in 0..<k {
                            let iy = oy * s - pad + ky
                            guard iy >= 0 && iy < H else { continue }
                            for kx in 0..<k {
                                let ix = ox * s - pad + kx
                                if ix >= 0 && ix < W { plane[iy * W + ix] += row[(c * k + ky) * k + kx] }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// 2-D convolution: `self` `[N, C, H, W]`, `weight` `[O, C, k, k]`, `bias` `[O]` →
    /// `[N, O, OH, OW]`. im2col into `[N·OH·OW, C·k·k]`, then one `cblas_sgemm` against `Wᵀ`;
    /// backward: `dW = dYᵀ·cols`, `dcols = dY·W` folded back onto the pixels.
    public func conv2d(_ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
        let x = self
        check(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must be [N, C, H, W] and [O, C, k, k]")
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let O = weight.shape[0], k = weight.shape[2]
        check(weight.shape[1] == C && weight.shape[3] == k, "conv2d: weight \(weight.shape) does not fit \(C) channels with a square kernel")
        check(stride >= 1 && padding >= 0 && H + 2 * padding >= k && W + 2 * padding >= k, "conv2d: kernel \(k) stride \(stride) padding \(padding) on \(H)×\(W)")
        if let bias { check(bias.count == O, "conv2d: bias \(bias.shape) for \(O) output channels") }
        let g = ConvGeometry(channels: C, height: H, width: W, kernel: k, stride: stride, padding: padding)
        let P = g.positions, K = g.patch, rows = N * P
        let cols = Storage(count: rows * K)                                        // [N·P, K]
        Im2Col.expand(x.data, images: N, g, into: cols.pointer)
        let yt = Storage(count: rows * O)                                          // [N·P, O] = cols · Wᵀ
        GEMM.sgemm(transA: false, transB: true, m: rows, n: O, k: K, a: cols.pointer, lda: K, b: weight.data, ldb: K, c: yt.pointer, ldc: O)
        let out = Tensor(uninitialized: [N, O, g.outHeight, g.outWidth])          // [N, O, OH, OW]
        let yp = out.data, tp = yt.pointer, bp = bias?.data
        Parallel.forRanges(N) { r in
            for n in r { for o in 0..<O {
                let b = bp?[o] ?? 0
                for p in 0..<P { yp[(n * O + o) * P + p] = tp[(n * P + p) * O + o] + b }
            } }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        if Autograd.needsGrad(inputs) {
            Autograd.record(out, inputs: inputs) { out in
                let dy = out.gradStorage!.pointer
                let dyt = Storage(count: rows * O)                                 // [N·P, O]
                let dp = dyt.pointer
                Parallel.forRanges(N) { r in
                    for n in r { for o in 0..<O { for p in 0..<P { dp[(n * P + p) * O + o] = dy[(n * O + o) * P + p] } } }
                }
                if weight.requiresGrad {
                    weight.withGradBuffer { dw, acc in                             // [O, K] += dYᵀ · cols
                        GEMM.sgemm(transA: true, transB: false, m: O, n: K, k: rows, a: dp, lda: O, b: cols.pointer, ldb: K,
                                   beta: acc ? 1 : 0, c: dw, ldc: K)
                    }
                }
                if let bias, bias.requiresGrad {
                    bias.withGradBuffer { db, acc in columnSums(dp, rows: rows, cols: O, into: db, accumulate: acc) }
                }
                if x.requiresGrad {
                    let dcols = Storage(count: rows * K)                           // [N·P, K] = dY · W
                    GEMM.sgemm(m: rows, n: K, k: O, a: dp, lda: O, b: weight.data, ldb: K, c: dcols.pointer, ldc: K)
                    x.withGradBuffer { dx, acc in Im2Col.fold(dcols.pointer, images: N, g, into: dx, accumulate: acc) }
                }
            }
        }
        return out
    }

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
