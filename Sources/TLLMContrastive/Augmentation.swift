import Foundation
import TLLMCore

/// Seeded image augmentations for contrastive views, on `[N, C, H, W]` images with values in
/// [0, 1]: a random shift (zero padding), a small rotation (bilinear), intensity jitter, Gaussian
/// noise and cutout — each image draws its own parameters from the caller's generator.
public struct ImageAugmentation: Codable, Sendable, Equatable {
    /// Largest shift in pixels along each axis.
    public var shift = 1
    /// Largest rotation in degrees (either way).
    public var rotation: Float = 15
    /// Intensity scale drawn from [1 − jitter, 1 + jitter].
    public var jitter: Float = 0.2
    /// Standard deviation of additive Gaussian noise.
    public var noise: Float = 0.05
    /// Side of the zeroed square (0 = none), placed anywhere on the image.
    public var cutout = 3

    public init() {}
    /// No change at all (for timing and controls).
    public static var none: ImageAugmentation {
        var a = ImageAugmentation(); a.shift = 0; a.rotation = 0; a.jitter = 0; a.noise = 0; a.cutout = 0; return a
    }

    /// One augmented copy of `x`.
    public func apply(_ x: Tensor, rng: inout RandomGenerator) -> Tensor {
        check(x.rank == 4, "ImageAugmentation: images \(x.shape) must be [N, C, H, W]")
        let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let out = Tensor(zeros: x.shape)
        let cy = Float(H - 1) / 2, cx = Float(W - 1) / 2
        for n in 0..<N {
            let dy = shift > 0 ? rng.nextInt(below: 2 * shift + 1) - shift : 0
            let dx = shift > 0 ? rng.nextInt(below: 2 * shift + 1) - shift : 0
            let angle = rotation > 0 ? (rng.nextFloat() * 2 - 1) * rotation * .pi / 180 : 0
            let scale = jitter > 0 ? 1 + (rng.nextFloat() * 2 - 1) * jitter : 1
            let (cs, sn) = (cos(angle), sin(angle))
            for c in 0..<C {
                let src = x.data + (n * C + c) * H * W, dst = out.data + (n * C + c) * H * W
                for y in 0..<H { for xx in 0..<W {
                    // Inverse map: the output pixel (y, x) reads the input at R⁻¹·(p − shift − centre) + centre.
                    let py = Float(y - dy) - cy, px = Float(xx - dx) - cx
                    let sy = cs * py + sn * px + cy, sx = -sn * py + cs * px + cx
                    dst[y * W + xx] = Self.bilinear(src, H, W, sy, sx) * scale
                } }
            }
            if cutout > 0 {
                let y0 = rng.nextInt(below: H - cutout + 1), x0 = rng.nextInt(below: W - cutout + 1)
                for c in 0..<C { for y in y0..<(y0 + cutout) { for xx in x0..<(x0 + cutout) { out.data[((n * C + c) * H + y) * W + xx] = 0 } } }
            }
        }
        if noise > 0 {
            let e = Tensor.randn(x.shape, std: noise, rng: &rng)
            for i in 0..<out.count { out.data[i] += e.data[i] }
        }
        return out
    }

    /// Two independent augmentations of the same images (SimCLR's views).
    public func views(_ x: Tensor, rng: inout RandomGenerator) -> (Tensor, Tensor) {
        let a = apply(x, rng: &rng)
        return (a, apply(x, rng: &rng))
    }

    static func bilinear(_ p: UnsafePointer<Float>, _ H: Int, _ W: Int, _ y: Float, _ x: Float) -> Float {
        let y0 = Int(floor(y)), x0 = Int(floor(x))
        let fy = y - Float(y0), fx = x - Float(x0)
        func at(_ r: Int, _ c: Int) -> Float { r >= 0 && r < H && c >= 0 && c < W ? p[r * W + c] : 0 }
        return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
    }
}
