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

    /// One 4-bit row: 8 blocks per step, their 8 (d, m) words loaded, split into halves and
    /// converted as vectors; 2 blocks per register (low nibbles against x's first halves, high
    /// against its second halves), lanes 0…3 summing the first block and 4…7 the second. The
    /// ≤ 7 blocks left over go one at a time.
    @inline(__always)
    static func rowQ4(_ row: UnsafeRawPointer, blockBytes bb: Int, minimum: Bool, blocks: Int, xq: UnsafePointer<Int8>,
                      xg: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xs: UnsafePointer<Float>) -> Float {
        let qs = minimum ? 4 : 2
        let mask = _mm256_set1_epi8(0x0F)
        // Which scale each lane of the k-th block pair takes (lanes 0…3 block 2k, 4…7 block 2k + 1).
        let spread0 = unsafeBitCast(SIMD8<Int32>(0, 0, 0, 0, 1, 1, 1, 1), to: __m256i.self)
        let spread1 = unsafeBitCast(SIMD8<Int32>(2, 2, 2, 2, 3, 3, 3, 3), to: __m256i.self)
        let spread2 = unsafeBitCast(SIMD8<Int32>(4, 4, 4, 4, 5, 5, 5, 5), to: __m256i.self)
        let spread3 = unsafeBitCast(SIMD8<Int32>(6, 6, 6, 6, 7, 7, 7, 7), to: __m256i.self)
        let halves = unsafeBitCast(SIMD32<UInt8>(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                                 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15), to: __m256i.self)
        let order = unsafeBitCast(SIMD8<Int32>(0, 1, 4, 5, 2, 3, 6, 7), to: __m256i.self)
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), off8 = SIMD8<Float>()
        @inline(__always) func word(_ p: UnsafeRawPointer, _ i: Int) -> UInt32 { p.loadUnaligned(fromByteOffset: bb * i, as: UInt32.self) }
        @inline(__always) func pair(_ p: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Float> {
            @inline(__always) func q(_ i: Int) -> SIMD2<Int64> { p.loadUnaligned(fromByteOffset: bb * i + qs, as: SIMD2<Int64>.self) }
            let w = __m256i(lowHalf: q(0), highHalf: q(1))
            let lo = _mm256_and_si256(w, mask), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), mask)
            let s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, x.loadUnaligned(as: __m256i.self)),
                                       _mm256_maddubs_epi16(hi, x.loadUnaligned(fromByteOffset: 64, as: __m256i.self)))
            return _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)))
        }
        var b = 0
        while b + 8 <= blocks {
            let p = row + bb * b
            // The 8 (d, m) words → [d₀…d₇ | m₀…m₇] as halves: one byte shuffle per 128-bit lane, one
            // dword permute across lanes.
            let words = unsafeBitCast(SIMD8<UInt32>(word(p, 0), word(p, 1), word(p, 2), word(p, 3), word(p, 4), word(p, 5), word(p, 6), word(p, 7)),
                                      to: __m256i.self)
            let split = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(words, halves), order)
            let dw = _mm256_cvtph_ps(split.lowHalf)
            let d = dw * UnsafeRawPointer(xd + b).loadUnaligned(as: SIMD8<Float>.self)
            let xsb = UnsafeRawPointer(xs + b).loadUnaligned(as: SIMD8<Float>.self)
            off8 = off8.addingProduct(minimum ? _mm256_cvtph_ps(split.highHalf) : dw, xsb)
            let g = UnsafeRawPointer(xg + 32 * b)            // unit b/4 at 128·(b/4) bytes
            acc0 = acc0.addingProduct(pair(p, g), _mm256_permutevar8x32_ps(d, spread0))
            acc1 = acc1.addingProduct(pair(p + 2 * bb, g + 32), _mm256_permutevar8x32_ps(d, spread1))
            acc0 = acc0.addingProduct(pair(p + 4 * bb, g + 128), _mm256_permutevar8x32_ps(d, spread2))
            acc1 = acc1.addingProduct(pair(p + 6 * bb, g + 160), _mm256_permutevar8x32_ps(d, spread3))
            b += 8
        }
        var acc = acc0 + acc1
        let a = off8.lowHalf + off8.highHalf
        var off = (a[0] + a[2]) + (a[1] + a[3])
        while b < blocks {
            let p = row + bb * b, d0 = half(p, 0)
            acc = block4(p, qs, xq, b, d0 * xd[b], acc)
            off += (minimum ? half(p, 2) : d0) * xs[b]
            b += 1
        }
        return horizontalSum(acc) + (minimum ? off : -8 * off)
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
