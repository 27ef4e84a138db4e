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

public enum Im2Col {
    /// Floats of im2col per chunk of images in `conv2d` (default 2²⁰ = 4 MiB: the chunk is still in
    /// cache when sgemm packs it). Tests set it small to exercise chunking.
    nonisolated(unsafe) public static var chunkFloats = 1 << 20

    /// The output columns `[lo, hi)` of a window row whose input pixel `ox·s − pad + kx` lies
    /// inside `0..<W` (the rest read zero padding).
    @inline(__always)
    static func validColumns(_ g: ConvGeometry, _ kx: Int) -> (Int, Int) {
        let s = g.stride, lo = min(g.outWidth, max(0, (g.padding - kx + s - 1) / s))
        let hi = min(g.outWidth, (g.width + g.padding - kx + s - 1) / s)
        return (lo, max(lo, hi))
    }

    /// `colsT[(c·k + ky)·k + kx, n·P + oy·OW + ox] = x[n, c, oy·s − pad + ky, ox·s − pad + kx]`
    /// (0 outside the image): each row is one kernel tap over every output position, written as
    /// runs of a pixel row. Parallel over rows.
    static func expand(_ x: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, into colsT: UnsafeMutablePointer<Float>) {
        let (H, W, k) = (g.height, g.width, g.kernel)
        let P = g.positions, NP = N * P
        if g.stride == 1 && g.outHeight == H && g.outWidth == W && P % 16 == 0 && 16 % W == 0 && P <= 256 {
            return expandSmallPlanes(x, images: N, g, into: colsT)
        }
        Parallel.forRanges(g.patch) { rows in
            for r in rows {
                let c = r / (k * k), ky = (r / k) % k, kx = r % k
                for n in 0..<N { rowRuns(x, image: n, channel: c, ky: ky, kx: kx, g, into: colsT + r * NP + n * P) }
            }
        }
    }

    /// `expand` for small images under a stride-1, same-size convolution (W divides 16, P ≤ 256
    /// positions, a multiple of 16): a kernel tap (dy, dx) reads the plane shifted by dy·W + dx, so
    /// each image's row segment is P/16 shifted SIMD16 loads with the out-of-image lanes selected
    /// to 0 — no per-pixel-row loop. The loads may run up to pad·(W + 1) floats past either end of
    /// the plane (into its neighbours, whose values the masks drop); the first and last plane of
    /// the batch, where that would leave the tensor, take the per-row path.
    static func expandSmallPlanes(_ x: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, into colsT: UnsafeMutablePointer<Float>) {
        let (C, H, W, k, pad) = (g.channels, g.height, g.width, g.kernel, g.padding)
        let P = g.positions, NP = N * P, vectors = P / 16
        let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let w = Int32(W), h = Int32(H)
        Parallel.forRanges(g.patch) { rows in
            withUnsafeTemporaryAllocation(of: SIMDMask<SIMD16<Int32>>.self, capacity: vectors) { masks in
                for r in rows {
                    let c = r / (k * k), dy = (r / k) % k - pad, dx = r % k - pad
                    for v in 0..<vectors {                          // lanes whose source pixel is inside the image
                        let p = lane &+ Int32(16 * v), oy = p / w &+ Int32(dy), ox = p % w &+ Int32(dx)
                        masks[v] = (oy .>= 0) .& (oy .< h) .& (ox .>= 0) .& (ox .< w)
                    }
                    let shift = dy * W + dx
                    for n in 0..<N {
                        let plane = (n * C + c) * H * W
                        let dst = colsT + r * NP + n * P
                        if plane == 0 || plane + P == N * C * H * W {
                            rowRuns(x, image: n, channel: c, ky: dy + pad, kx: dx + pad, g, into: dst)
                            continue
                        }
                        let src = x + plane + shift
                        for v in 0..<vectors {
                            let value = UnsafeRawPointer(src + 16 * v).loadUnaligned(as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(dst + 16 * v).storeBytes(of: SIMD16<Float>().replacing(with: value, where: masks[v]), as: SIMD16<Float>.self)
                        }
                    }
                }
            }
        }
    }

    /// One image's row segment of one kernel tap, pixel row by pixel row (the general path).
    @inline(__always)
    static func rowRuns(_ x: UnsafePointer<Float>, image n: Int, channel c: Int, ky: Int, kx: Int, _ g: ConvGeometry, into dst0: UnsafeMutablePointer<Float>) {
        let (C, H, W, s, pad) = (g.channels, g.height, g.width, g.stride, g.padding)
        let OH = g.outHeight, OW = g.outWidth
        let (lo, hi) = validColumns(g, kx)
        let plane = x + (n * C + c) * H * W
        for oy in 0..<OH {
            let dst = dst0 + oy * OW
            let iy = oy * s - pad + ky
            guard iy >= 0 && iy < H else { zero(dst, OW); continue }
            zero(dst, lo)
            let src = plane + iy * W - pad + kx
            if s == 1 { copy(src + lo, dst + lo, hi - lo) } else { for ox in lo..<hi { dst[ox] = src[ox * s] } }
            zero(dst + hi, OW - hi)
        }
    }

    /// Short runs (a row of a small image is a few floats): SIMD8 stores and a scalar tail, not a
    /// `memcpy`/`memset` call per run.
    @inline(__always)
    static func copy(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] = src[i]; i += 1 }
    }

    @inline(__always)
    static func zero(_ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count { UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD8<Float>(), as: SIMD8<Float>.self); i += 8 }
        while i < count { dst[i] = 0; i += 1 }
    }

    /// The adjoint of `expand`: adds every entry back onto the pixel it came from. Parallel over
    /// image planes (each plane gathers its k·k rows).
    static func fold(_ colsT: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, H, W, k) = (g.channels, g.height, g.width, g.kernel)
        let P = g.positions, taps = k * k, vectors = P / 16
        guard g.stride == 1 && g.outHeight == H && g.outWidth == W && P % 16 == 0 && 16 % W == 0 && P <= 256 && N > 2 else {
            Parallel.forRanges(N * C) { planes in
                for nc in planes { foldPlane(colsT, images: N, plane: nc, g, into: dx, accumulate: accumulate) }
            }
            return
        }
        // Small planes, stride 1, same size: each pixel gathers tap (dy, dx)'s column entry at its
        // own position − (dy·W + dx), SIMD16 at a time, lanes whose source is outside the image
        // selected to 0 (the adjoint of `expandSmallPlanes`). The loads may reach pad·(W + 1)
        // floats into the neighbouring images' segments of the same row; the first and last image
        // take the per-row path, so no load leaves colsT.
        let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let w = Int32(W), h = Int32(H), pad = g.padding
        withUnsafeTemporaryAllocation(of: SIMDMask<SIMD16<Int32>>.self, capacity: taps * vectors) { masks in
            for t in 0..<taps {
                let dy = t / k - pad, dxx = t % k - pad
                for v in 0..<vectors {
                    let p = lane &+ Int32(16 * v), oy = p / w &- Int32(dy), ox = p % w &- Int32(dxx)
                    masks[t * vectors + v] = (oy .>= 0) .& (oy .< h) .& (ox .>= 0) .& (ox .< w)
                }
            }
            let m = UnsafePointer(masks.baseAddress!), NP = N * P
            Parallel.forRanges(N * C) { planes in
                for nc in planes {
                    let n = nc / C, c = nc % C
                    if n == 0 || n == N - 1 { foldPlane(colsT, images: N, plane: nc, g, into: dx, accumulate: accumulate); continue }
                    let dst = dx + nc * P
                    for v in 0..<vectors {
                        var acc = accumulate ? UnsafeRawPointer(dst + 16 * v).loadUnaligned(as: SIMD16<Float>.self) : SIMD16<Float>()
                        for t in 0..<taps {
                            let shift = (t / k - pad) * W + (t % k - pad)
                            let src = colsT + (c * taps + t) * NP + n * P + 16 * v - shift
                            acc += SIMD16<Float>().replacing(with: UnsafeRawPointer(src).loadUnaligned(as: SIMD16<Float>.self), where: m[t * vectors + v])
                        }
                        UnsafeMutableRawPointer(dst + 16 * v).storeBytes(of: acc, as: SIMD16<Float>.self)
                    }
                }
            }
        }
    }

    /// One image plane's gradient, pixel row by pixel row (the general path).
    static func foldPlane(_ colsT: UnsafePointer<Float>, images N: Int, plane nc: Int, _ g: ConvGeometry, into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, H, W, k, s, pad) = (g.channels, g.height, g.width, g.kernel, g.stride, g.padding)
        let OH = g.outHeight, OW = g.outWidth, P = g.positions, NP = N * P
        let n = nc / C, c = nc % C
        let plane = dx + nc * H * W
        if !accumulate { plane.initialize(repeating: 0, count: H * W) }
        for ky in 0..<k { for kx in 0..<k {
            let r = (c * k + ky) * k + kx
            let (lo, hi) = validColumns(g, kx)
            for oy in 0..<OH {
                let iy = oy * s - pad + ky
                guard iy >= 0 && iy < H else { continue }
                let src = colsT + r * NP + n * P + oy * OW, dst = plane + iy * W - pad + kx
                if s == 1 { for ox in lo..<hi { dst[ox] += src[ox] } } else { for ox in lo..<hi { dst[ox * s] += src[ox] } }
            }
        } }
    }
}

extension Tensor {
    /// 2-D convolution: `self` `[N, C, H, W]`, `weight` `[O, C, k, k]`, `bias` `[O]` →
    /// `[N, O, OH, OW]`. Images go in chunks whose im2col `colsT` `[C·k·k, n·OH·OW]` (rows of
    /// contiguous pixel runs) stays within ~4 MiB, so it is still in cache when `cblas_sgemm` packs
    /// it: `Y'[:, chunk] = W·colsT` into `Y'` `[O, N·P]`. Backward recomputes each chunk's colsT
    /// (cheaper than keeping N·P·C·k·k floats): `dW += dY'[:, chunk]·colsTᵀ`, `dcolsT = Wᵀ·dY'[:, chunk]`
    /// folded back onto the chunk's pixels.
    public func conv2d(_ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
        let x = self
        check(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must be [N, C, H, W] and [O, C, k, k]")
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let O = weight.shape[0], k = weight.shape[2]
        check(weight.shape[1] == C && weight.shape[3] == k, "conv2d: weight \(weight.shape) does not fit \(C) channels with a square kernel")
        check(stride >= 1 && padding >= 0 && H + 2 * padding >= k && W + 2 * padding >= k, "conv2d: kernel \(k) stride \(stride) padding \(padding) on \(H)×\(W)")
        if let bias { check(bias.count == O, "conv2d: bias \(bias.shape) for \(O) output channels") }
        let g = ConvGeometry(channels: C, height: H, width: W, kernel: k, stride: stride, padding: padding)
        let P = g.positions, K = g.patch
        let chunk = Swift.max(1, Swift.min(N, Im2Col.chunkFloats / Swift.max(1, K * P)))   // images per im2col chunk (≤ ~4 MiB)
        let cols = Storage(count: K * chunk * P)                                      // colsT [K, n·P] of one chunk
        let yc = Storage(count: O * chunk * P)                                        // Y' [O, n·P] = W · colsT of one chunk
        let out = Tensor(uninitialized: [N, O, g.outHeight, g.outWidth])              // [N, O, OH, OW]
        let yp = out.data, bp = bias?.data
        for n0 in Swift.stride(from: 0, to: N, by: chunk) {
            let n = Swift.min(chunk, N - n0), tp = yc.pointer
            Im2Col.expand(x.data + n0 * C * H * W, images: n, g, into: cols.pointer)
            GEMM.sgemm(m: O, n: n * P, k: K, a: weight.data, lda: K, b: cols.pointer, ldb: n * P, c: tp, ldc: n * P)
            Parallel.forRanges(n * O) { r in                                          // [O, n·P] → out[n0 ..< n0 + n] (still in cache)
                for io in r {
                    let i = io / O, o = io % O, b = bp?[o] ?? 0
                    let src = tp + o * n * P + i * P, dst = yp + ((n0 + i) * O + o) * P
                    for p in 0..<P { dst[p] = src[p] + b }
                }
            }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        if Autograd.needsGrad(inputs) {
            Autograd.record(out, inputs: inputs) { out in
                let dy = out.gradStorage!.pointer
                let dyc = Storage(count: O * chunk * P)                                // dY' [O, n·P] of one chunk
                let dcols = x.requiresGrad ? Storage(count: K * chunk * P) : nil      // dcolsT [K, n·P] of one chunk
                let xHadGrad = x.gradStorage != nil                                    // later chunks write fresh images too
                let biasSums = Storage(count: O, repeating: 0)
                for n0 in Swift.stride(from: 0, to: N, by: chunk) {
                    let n = Swift.min(chunk, N - n0), dp = dyc.pointer
                    Parallel.forRanges(n * O) { r in                                  // dy[n0 ..< n0 + n] → [O, n·P]
                        for io in r {
                            let i = io / O, o = io % O
                            (dp + o * n * P + i * P).update(from: dy + ((n0 + i) * O + o) * P, count: P)
                        }
                    }
                    if let bias, bias.requiresGrad {
                        for o in 0..<O { biasSums.pointer[o] += VectorMath.sum(dp + o * n * P, n * P) }
                    }
                    if weight.requiresGrad {
                        Im2Col.expand(x.data + n0 * C * H * W, images: n, g, into: cols.pointer)
                        weight.withGradBuffer { dw, acc in                             // [O, K] += dY'[:, chunk] · colsTᵀ
                            GEMM.sgemm(transA: false, transB: true, m: O, n: K, k: n * P, a: dp, lda: n * P, b: cols.pointer, ldb: n * P,
                                       beta: acc || n0 > 0 ? 1 : 0, c: dw, ldc: K)
                        }
                    }
                    if let dcols {
                        GEMM.sgemm(transA: true, transB: false, m: K, n: n * P, k: O, a: weight.data, lda: K, b: dp, ldb: n * P,
                                   c: dcols.pointer, ldc: n * P)
                        x.withGradBuffer { dx, _ in
                            Im2Col.fold(dcols.pointer, images: n, g, into: dx + n0 * C * H * W, accumulate: xHadGrad)
                        }
                    }
                }
                if let bias, bias.requiresGrad {
                    bias.withGradBuffer { db, acc in for o in 0..<O { put(db, o, biasSums.pointer[o], acc) } }
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
