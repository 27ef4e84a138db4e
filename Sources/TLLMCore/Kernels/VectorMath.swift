/// Vectorised transcendental functions for the elementwise kernels.
///
/// `exp` follows Cephes' `expf` (range reduction by ln 2 in two parts, a degree-6 polynomial,
/// scaling by 2ⁿ through the exponent bits): relative error about 2 ulp over the float range,
/// several times faster than calling libm per element.
public enum VectorMath {
    public typealias V = SIMD16<Float>
    /// Lanes per vector.
    public static var W: Int { V.scalarCount }

    /// eˣ lane-wise. Inputs below −87.3 give 0; above 88.3 they are clamped (2.2e38).
    ///
    /// Rounding to the nearest integer and building 2ⁿ both go through the bits of `z + 1.5·2²³`,
    /// so no float↔int conversion is needed (those are not vectorised by Swift's SIMD types); the
    /// polynomial uses fused multiply-adds.
    @inline(__always)
    public static func exp(_ xIn: V) -> V {
        let magic = V(repeating: 12_582_912)  // 1.5·2²³
        var x = vmin(vmax(xIn, V(repeating: -87.3)), V(repeating: 88.3))
        let t = magic.addingProduct(x, V(repeating: 1.442_695_040_888_963_4))
        let fx = t - magic                                     // round(x·log2 e)
        x = x.addingProduct(fx, V(repeating: -0.693_359_375))
        x = x.addingProduct(fx, V(repeating: 2.121_944_4e-4))
        let z = x * x
        var y = V(repeating: 1.398_199_950_7e-3).addingProduct(V(repeating: 1.987_569_150_0e-4), x)
        y = V(repeating: 8.333_451_907_3e-3).addingProduct(y, x)
        y = V(repeating: 4.166_579_589_4e-2).addingProduct(y, x)
        y = V(repeating: 1.666_666_545_9e-1).addingProduct(y, x)
        y = V(repeating: 5.000_000_120_1e-1).addingProduct(y, x)
        y = (x + 1).addingProduct(y, z)
        let n = unsafeBitCast(t, to: SIMD16<UInt32>.self) &- 0x4B40_0000   // the integer n
        let pow2n = unsafeBitCast((n &+ 127) &<< 23, to: V.self)
        return (y * pow2n).replacing(with: 0, where: xIn .< -87.3)
    }

    /// Lane-wise maximum (a compare and a blend; Swift's generic `pointwiseMax` is not inlined).
    @inline(__always)
    public static func vmax(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .< b) }

    /// Lane-wise minimum.
    @inline(__always)
    public static func vmin(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .< a) }

    /// tanh lane-wise: an odd form, `sign(x)·(1 − 2/(e^{2|x|} + 1))`, exact to
    /// about 1e-7 absolute.
    @inline(__always)
    public static func tanh(_ x: V) -> V {
        let ax = x.replacing(with: -x, where: x .< 0)
        let e = exp(2 * vmin(ax, V(repeating: 20)))
        let t = 1 - 2 / (e + 1)
        return t.replacing(with: -t, where: x .< 0)
    }

    /// The logistic function 1/(1 + e^{−x}) lane-wise.
    @inline(__always)
    public static func sigmoid(_ x: V) -> V {
        1 / (1 + exp(-x))
    }

    /// Scalar eˣ with the same algorithm (for tails and scalar code).
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    /// Applies `f` to `count` elements from `src` into `dst` (may alias), a vector at a time.
    @inline(__always)
    public static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                           _ f: (V) -> V) {
        var i = 0
        while i + W <= count {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: V.self)
            i += W
        }
        if i < count {
            var v = V(repeating: 0)
            for j in 0..<(count - i) { v[j] = src[i + j] }
            let r = f(v)
            for j in 0..<(count - i) { dst[i + j] = r[j] }
        }
    }

    /// `Σ src[i]` with one partial sum per lane (a fixed order, so results are reproducible).
    @inline(__always)
    public static func sum(_ src: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = V(repeating: 0)
        var i = 0
        while i + W <= count {
            acc += UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
            i += W
        }
        var s = acc.sum()
        while i < count { s += src[i]; i += 1 }
        return s
    }

    /// `Σ a[i]·b[i]` with one partial sum per lane.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = V(repeating: 0)
        var i = 0
        while i + W <= count {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: V.self) * UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
            i += W
        }
        var s = acc.sum()
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// `max src[i]`.
    @inline(__always)
    public static func max(_ src: UnsafePointer<Float>, _ count: Int) -> Float {
        var m = -Float.infinity
        var i = 0
        if count >= W {
            var acc = V(repeating: -.infinity)
            while i + W <= count {
                acc = vmax(acc, UnsafeRawPointer(src + i).loadUnaligned(as: V.self))
                i += W
            }
            for k in 0..<W { m = Swift.max(m, acc[k]) }
        }
        while i < count { m = Swift.max(m, src[i]); i += 1 }
        return m
    }

    /// `dst[i] = exp(src[i] − shift)`, returning the sum of the results.
    @inline(__always)
    public static func expShiftSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                   _ count: Int, shift: Float) -> Float {
        var acc = V(repeating: 0)
        let sv = V(repeating: shift)
        var i = 0
        while i + W <= count {
            let e = exp(UnsafeRawPointer(src + i).loadUnaligned(as: V.self) - sv)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: e, as: V.self)
            acc += e
            i += W
        }
        var s = acc.sum()
        while i < count {
            let e = exp(src[i] - shift)
            dst[i] = e
            s += e
            i += 1
        }
        return s
    }

    /// The sum of a vector's lanes by halving (log₂ 16 = 4 dependent adds, not 15).
    @inline(__always)
    public static func treeSum(_ v: V) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// `a·b` for `count` a multiple of 16, summed as a tree (a different order from ``dot(_:_:_:)``,
    /// which training kernels keep for reproducibility; this one is for inference loops).
    @inline(__always)
    public static func dotTree(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc0 = V(repeating: 0), acc1 = V(repeating: 0)
        var i = 0
        while i + 2 * W <= count {
            acc0 = acc0.addingProduct(UnsafeRawPointer(a + i).loadUnaligned(as: V.self), UnsafeRawPointer(b + i).loadUnaligned(as: V.self))
            acc1 = acc1.addingProduct(UnsafeRawPointer(a + i + W).loadUnaligned(as: V.self), UnsafeRawPointer(b + i + W).loadUnaligned(as: V.self))
            i += 2 * W
        }
        if i + W <= count {
            acc0 = acc0.addingProduct(UnsafeRawPointer(a + i).loadUnaligned(as: V.self), UnsafeRawPointer(b + i).loadUnaligned(as: V.self))
            i += W
        }
        var s = treeSum(acc0 + acc1)
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// `y += a[0]·x₀ + a[1]·x₁ + a[2]·x₂ + a[3]·x₃` with rows `x_k = x + k·stride` (y loaded and
    /// stored once for four rows).
    @inline(__always)
    public static func axpy4(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ stride: Int, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let a0 = V(repeating: a[0]), a1 = V(repeating: a[1]), a2 = V(repeating: a[2]), a3 = V(repeating: a[3])
        var i = 0
        while i + W <= count {
            var yv = UnsafeRawPointer(y + i).loadUnaligned(as: V.self)
            yv = yv.addingProduct(a0, UnsafeRawPointer(x + i).loadUnaligned(as: V.self))
            yv = yv.addingProduct(a1, UnsafeRawPointer(x + stride + i).loadUnaligned(as: V.self))
            yv = yv.addingProduct(a2, UnsafeRawPointer(x + 2 * stride + i).loadUnaligned(as: V.self))
            yv = yv.addingProduct(a3, UnsafeRawPointer(x + 3 * stride + i).loadUnaligned(as: V.self))
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv, as: V.self)
            i += W
        }
        while i < count { y[i] += a[0] * x[i] + a[1] * x[stride + i] + a[2] * x[2 * stride + i] + a[3] * x[3 * stride + i]; i += 1 }
    }

    /// `y[0..<count] += a·x[0..<count]`.
    @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let av = V(repeating: a)
        var i = 0
        while i + W <= count {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: V.self).addingProduct(av, UnsafeRawPointer(x + i).loadUnaligned(as: V.self))
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv, as: V.self)
            i += W
        }
        while i < count { y[i] += a * x[i]; i += 1 }
    }

    /// `dst[i] *= k`.
    @inline(__always)
    public static func scale(_ dst: UnsafeMutablePointer<Float>, _ count: Int, by k: Float) {
        var i = 0
        let kv = V(repeating: k)
        while i + W <= count {
            let v = UnsafeRawPointer(dst + i).loadUnaligned(as: V.self) * kv
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: V.self)
            i += W
        }
        while i < count { dst[i] *= k; i += 1 }
    }
}
