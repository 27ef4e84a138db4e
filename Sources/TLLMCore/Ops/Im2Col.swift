// MARK: - im2col and its adjoint for 2-D convolution over images [N, C, H, W] (row-major, NCHW)

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
    /// Floats of one worker's im2col chunk in `conv2d` (default 2¹⁷ = 512 KiB, within a core's
    /// L2 cache on every machine kind we run on, so sgemm packs it from there). Tests set it small
    /// to exercise chunking.
    nonisolated(unsafe) public static var chunkFloats = 1 << 17

    /// Floats that `fold` may read before the first and after the last entry of `colsT` (the
    /// caller allocates them; their values never reach the result).
    static func margin(_ g: ConvGeometry) -> Int { g.padding * (g.width + 1) }

    /// Whether the whole-plane shifted-load paths apply: stride 1, same-size output, rows that
    /// tile 16 lanes, at most 256 positions.
    static func smallPlanes(_ g: ConvGeometry) -> Bool {
        g.stride == 1 && g.outHeight == g.height && g.outWidth == g.width && g.positions % 16 == 0 && 16 % g.width == 0 && g.positions <= 256
    }

    /// The lane masks of the small-plane paths, built once per convolution: for kernel tap
    /// t = (dy, dx) and SIMD16 vector v of a plane, the lanes whose shifted source lies inside the
    /// image — `expand` reads position p + (dy·W + dx), `fold` reads p − (dy·W + dx).
    struct ShiftMasks {
        typealias Mask = SIMDMask<SIMD16<Int32>>
        /// `[taps · vectors]` each, tap-major.
        let expand: [Mask], fold: [Mask]

        init(_ g: ConvGeometry) {
            let (W, H, k, pad) = (Int32(g.width), Int32(g.height), g.kernel, g.padding), vectors = g.positions / 16
            let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            func masks(_ sign: Int32) -> [Mask] {
                (0..<k * k * vectors).map { i in
                    let t = i / vectors, v = i % vectors, dy = sign * Int32(t / k - pad), dx = sign * Int32(t % k - pad)
                    let p = lane &+ Int32(16 * v), oy = p / W &+ dy, ox = p % W &+ dx
                    return (oy .>= 0) .& (oy .< H) .& (ox .>= 0) .& (ox .< W)
                }
            }
            expand = masks(1); fold = masks(-1)
        }
    }

    /// The output columns `[lo, hi)` of a window row whose input pixel `ox·s − pad + kx` lies
    /// inside `0..<W` (the rest read zero padding).
    @inline(__always)
    static func validColumns(_ g: ConvGeometry, _ kx: Int) -> (Int, Int) {
        let s = g.stride, lo = min(g.outWidth, max(0, (g.padding - kx + s - 1) / s))
        let hi = min(g.outWidth, (g.width + g.padding - kx + s - 1) / s)
        return (lo, max(lo, hi))
    }

    /// `colsT[(c·k + ky)·k + kx, i·P + oy·OW + ox] = x[n₀ + i, c, oy·s − pad + ky, ox·s − pad + kx]`
    /// for the images `n₀ ..< n₁` of the `total` in `x` (0 outside the image): each row is one
    /// kernel tap over every output position, written as runs of a pixel row.
    /// `masks` (from ``ShiftMasks``) selects the small-plane path.
    static func expand(_ x: UnsafePointer<Float>, images: Range<Int>, of total: Int, _ g: ConvGeometry, masks: ShiftMasks?, into colsT: UnsafeMutablePointer<Float>) {
        let k = g.kernel, P = g.positions, NP = images.count * P
        if let masks { return expandSmallPlanes(x, images: images, of: total, g, masks.expand, into: colsT) }
        Parallel.forRanges(g.patch) { rows in
            for r in rows {
                let c = r / (k * k), ky = (r / k) % k, kx = r % k
                for (i, n) in images.enumerated() { rowRuns(x, image: n, channel: c, ky: ky, kx: kx, g, into: colsT + r * NP + i * P) }
            }
        }
    }

    /// `expand` for small images under a stride-1, same-size convolution (``smallPlanes(_:)``): a
    /// kernel tap (dy, dx) reads the plane shifted by dy·W + dx, so each image's row segment is
    /// P/16 shifted SIMD16 loads with the out-of-image lanes selected to 0 — no per-pixel-row loop.
    /// The loads may run up to pad·(W + 1) floats past either end of the plane (into its
    /// neighbours, whose values the masks drop); the batch's first and last plane, where that would
    /// leave the tensor, take the per-row path.
    static func expandSmallPlanes(_ x: UnsafePointer<Float>, images: Range<Int>, of total: Int, _ g: ConvGeometry, _ masks: [ShiftMasks.Mask], into colsT: UnsafeMutablePointer<Float>) {
        let (C, W, k, pad) = (g.channels, g.width, g.kernel, g.padding)
        let P = g.positions, NP = images.count * P, vectors = P / 16, taps = k * k, lastPlane = total * C - 1
        masks.withUnsafeBufferPointer { masks in
            Parallel.forRanges(g.patch) { rows in
                for r in rows {
                    let c = r / taps, t = r % taps, dy = t / k - pad, dx = t % k - pad
                    let shift = dy * W + dx, m = masks.baseAddress! + t * vectors
                    for (i, n) in images.enumerated() {
                        let plane = n * C + c, dst = colsT + r * NP + i * P
                        if plane == 0 || plane == lastPlane {
                            rowRuns(x, image: n, channel: c, ky: dy + pad, kx: dx + pad, g, into: dst)
                            continue
                        }
                        let src = x + plane * P + shift
                        for v in 0..<vectors {
                            let value = UnsafeRawPointer(src + 16 * v).loadUnaligned(as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(dst + 16 * v).storeBytes(of: SIMD16<Float>().replacing(with: value, where: m[v]), as: SIMD16<Float>.self)
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

    /// The adjoint of `expand` for `N` images: adds every entry back onto the pixel it came from.
    /// `colsT` must have ``margin(_:)`` readable floats on either side. Parallel over image planes
    /// (each plane gathers its k·k rows).
    static func fold(_ colsT: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, masks: ShiftMasks?, into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        guard let masks else {
            Parallel.forRanges(N * g.channels) { planes in
                for nc in planes { foldPlane(colsT, images: N, plane: nc, g, into: dx, accumulate: accumulate) }
            }
            return
        }
        foldSmallPlanes(colsT, images: N, g, masks.fold, into: dx, accumulate: accumulate)
    }

    /// `fold` on small planes (``smallPlanes(_:)``): each pixel gathers tap (dy, dx)'s column entry
    /// at its own position − (dy·W + dx), SIMD16 at a time, lanes whose source is outside the image
    /// selected to 0 (the adjoint of `expandSmallPlanes`). The loads reach at most pad·(W + 1)
    /// floats into the neighbouring segments, or into the margins around `colsT`.
    static func foldSmallPlanes(_ colsT: UnsafePointer<Float>, images N: Int, _ g: ConvGeometry, _ masks: [ShiftMasks.Mask], into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, W, k, pad) = (g.channels, g.width, g.kernel, g.padding)
        let P = g.positions, taps = k * k, vectors = P / 16, NP = N * P
        masks.withUnsafeBufferPointer { masks in
            let m = masks.baseAddress!
            Parallel.forRanges(N * C) { planes in
                for nc in planes {
                    let n = nc / C, c = nc % C, dst = dx + nc * P
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
