// Quantized matrix–vector kernels on integer dot products, AVX2 (Haswell and later, Zen): the
// same sums as TLLMKernelsAVX512/IntegerKernels.swift (read its header for the algebra), with
// `vpmaddubsw` (u8 × s8 → pairs summed into s16; at most 2·15·127 for 4-bit weights, 2·128·127 for
// 8-bit ones: never saturates) and `vpmaddwd` by ones (→ s32). 8-bit weights are signed, so the
// product is |q_w| × (q_x with q_w's sign), llama.cpp's trick, and needs no correction term.

#if arch(x86_64)
import _Builtin_intrinsics.intel

public enum IntegerKernels {
    @inline(__always) static func nibbles(_ p: UnsafeRawPointer) -> __m256i {
        let qs = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let m = SIMD16<UInt8>(repeating: 0x0F)
        return unsafeBitCast(SIMD32<UInt8>(lowHalf: qs & m, highHalf: (qs &>> 4) & m), to: __m256i.self)
    }

    @inline(__always) static func loadX(_ xq: UnsafePointer<Int8>, _ b: Int) -> __m256i {
        UnsafeRawPointer(xq + 32 * b).loadUnaligned(as: __m256i.self)
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(p.loadUnaligned(fromByteOffset: offset, as: Float16.self))
    }

    @inline(__always) static func horizontalSum(_ v: SIMD8<Float>) -> Float {
        let a = v.lowHalf + v.highHalf
        return (a[0] + a[2]) + (a[1] + a[3])
    }

    /// Σ u·s over 32 byte pairs as 8 int32 lanes (u unsigned, s signed).
    @inline(__always) static func dot(_ u: __m256i, _ s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }

    @inline(__always) static func block4(_ p: UnsafeRawPointer, _ qs: Int, _ xq: UnsafePointer<Int8>, _ b: Int,
                                         _ scale: Float, _ acc: SIMD8<Float>) -> SIMD8<Float> {
        acc.addingProduct(_mm256_cvtepi32_ps(dot(nibbles(p + qs), loadX(xq, b))), SIMD8<Float>(repeating: scale))
    }

    /// Q4_1 rows `rows` of W (blocks of 20 bytes: d, m, 16 bytes of nibbles).
    public static func gemvQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xq: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
            var off: Float = 0
            var b = 0
            while b + 2 <= blocks {
                let p0 = row + 20 * b, p1 = p0 + 20
                acc0 = block4(p0, 4, xq, b, half(p0, 0) * xd[b], acc0)
                acc1 = block4(p1, 4, xq, b + 1, half(p1, 0) * xd[b + 1], acc1)
                off += half(p0, 2) * xs[b] + half(p1, 2) * xs[b + 1]
                b += 2
            }
            if b < blocks {
                let p0 = row + 20 * b
                acc0 = block4(p0, 4, xq, b, half(p0, 0) * xd[b], acc0)
                off += half(p0, 2) * xs[b]
            }
            y[r] = horizontalSum(acc0 + acc1) + off
        }
    }

    /// Q4_0 rows (blocks of 18 bytes: d, 16 bytes of nibbles; w = d·(q − 8)).
    public static func gemvQ4_0(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xq: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
            var off: Float = 0
            var b = 0
            while b + 2 <= blocks {
                let p0 = row + 18 * b, p1 = p0 + 18
                let d0 = half(p0, 0), d1 = half(p1, 0)
                acc0 = block4(p0, 2, xq, b, d0 * xd[b], acc0)
                acc1 = block4(p1, 2, xq, b + 1, d1 * xd[b + 1], acc1)
                off += d0 * xs[b] + d1 * xs[b + 1]
                b += 2
            }
            if b < blocks {
                let p0 = row + 18 * b, d0 = half(p0, 0)
                acc0 = block4(p0, 2, xq, b, d0 * xd[b], acc0)
                off += d0 * xs[b]
            }
            y[r] = horizontalSum(acc0 + acc1) - 8 * off
        }
    }

    /// Q8_0 rows (blocks of 34 bytes: d, int8[32]). `xc` is unused here (the VNNI kernel's
    /// correction lanes; the sign trick needs none).
    public static func gemvQ8_0(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xq: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xc: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>) {
        @inline(__always) func block(_ p: UnsafeRawPointer, _ b: Int, _ acc: SIMD8<Float>) -> SIMD8<Float> {
            let q = p.loadUnaligned(fromByteOffset: 2, as: __m256i.self), x = loadX(xq, b)
            let d = dot(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q))
            return acc.addingProduct(_mm256_cvtepi32_ps(d), SIMD8<Float>(repeating: half(p, 0) * xd[b]))
        }
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
            var b = 0
            while b + 2 <= blocks {
                acc0 = block(row + 34 * b, b, acc0)
                acc1 = block(row + 34 * (b + 1), b + 1, acc1)
                b += 2
            }
            if b < blocks { acc0 = block(row + 34 * b, b, acc0) }
            y[r] = horizontalSum(acc0 + acc1)
        }
    }
}
#endif
