// Quantized matrix–vector kernels on integer dot products (AVX-512 VNNI: `vpdpbusd` on 256-bit
// registers). The activations come in as 8-bit blocks — per block of 32: `q: int8[32]` and the
// scale `d` with x ≈ d·q (llama.cpp's Q8_1 for activations) — so a weight block's dot product with
// x is one exact integer sum, scaled once:
//
//     Q4_1:  Σ w·x = d_w·d_x·Σ q_w·q_x + m_w·(d_x·Σ q_x)            (xs[b] = d_x·Σ q_x)
//     Q4_0:  Σ w·x = d_w·d_x·Σ q_w·q_x − 8·d_w·xs[b]
//     Q8_0:  Σ w·x = d_w·d_x·(Σ (q_w + 128)·q_x − 128·Σ q_x)        (vpdpbusd wants u8 × s8; the
//            per-lane 128·Σ q_x terms, xc[8b..<8b+8], start the accumulator, so the sum stays exact)
//
// The AVX2 build (TLLMKernelsAVX2/IntegerKernels.swift) does the same with `vpmaddubsw` +
// `vpmaddwd`. Checked against a naive integer reference in QuantizationTests.

#if arch(x86_64)
import _Builtin_intrinsics.intel

public enum IntegerKernels {
    // Two blocks per step in one 512-bit register (clang's 256-bit `_mm256_dpbusd_epi32` is a
    // macro, which Swift cannot import): lanes 0…7 sum block b, lanes 8…15 block b + 1.

    /// 32 unsigned 4-bit weights of a block in order: low nibbles (weights 0…15), then high.
    @inline(__always) static func nibbles(_ p: UnsafeRawPointer) -> SIMD32<UInt8> {
        let qs = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let m = SIMD16<UInt8>(repeating: 0x0F)
        return SIMD32<UInt8>(lowHalf: qs & m, highHalf: (qs &>> 4) & m)
    }

    /// x's int8 blocks b and b + 1.
    @inline(__always) static func loadX2(_ xq: UnsafePointer<Int8>, _ b: Int) -> __m512i {
        UnsafeRawPointer(xq + 32 * b).loadUnaligned(as: __m512i.self)
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(p.loadUnaligned(fromByteOffset: offset, as: Float16.self))
    }

    @inline(__always) static func pair(_ a: Float, _ b: Float) -> SIMD16<Float> {
        SIMD16<Float>(lowHalf: SIMD8(repeating: a), highHalf: SIMD8(repeating: b))
    }

    @inline(__always) static func horizontalSum(_ v: SIMD16<Float>) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        return (b[0] + b[2]) + (b[1] + b[3])
    }

    /// `acc + float(Σ q_w·q_x lanes)·scales` for two blocks (of the same row, or the last block
    /// twice with a zero second scale).
    @inline(__always) static func blocks4(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ x: __m512i,
                                          _ scales: SIMD16<Float>, _ acc: SIMD16<Float>) -> SIMD16<Float> {
        let w = unsafeBitCast(SIMD64<UInt8>(lowHalf: nibbles(p0), highHalf: nibbles(p1)), to: __m512i.self)
        let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, x)
        return acc.addingProduct(_mm512_cvtepi32_ps(dot), scales)
    }

    /// One 4-bit row: 8 blocks per step with their scales as vectors — the 8 (d, m) words loaded,
    /// split and converted together (`vcvtph2ps`), and the nibbles of 4 blocks per register
    /// (low nibbles against x's first halves, high against its second halves, both `vpdpbusd`
    /// into one sum whose 4-lane groups are the blocks). The ≤ 7 blocks left over go two at a time.
    @inline(__always)
    static func rowQ4(_ row: UnsafeRawPointer, blockBytes bb: Int, minimum: Bool, blocks: Int, xq: UnsafePointer<Int8>,
                      xg: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xs: UnsafePointer<Float>) -> Float {
        let qs = minimum ? 4 : 2
        let mask = _mm512_set1_epi8(0x0F)
        let spread0 = unsafeBitCast(SIMD16<Int32>(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), to: __m512i.self)
        let spread1 = unsafeBitCast(SIMD16<Int32>(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), to: __m512i.self)
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>(), off8 = SIMD8<Float>()
        @inline(__always) func word(_ p: UnsafeRawPointer, _ i: Int) -> UInt32 { p.loadUnaligned(fromByteOffset: bb * i, as: UInt32.self) }
        @inline(__always) func unit(_ p: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD16<Float> {
            @inline(__always) func q(_ i: Int) -> SIMD2<Int64> { p.loadUnaligned(fromByteOffset: bb * i + qs, as: SIMD2<Int64>.self) }
            let w = __m512i(lowHalf: __m256i(lowHalf: q(0), highHalf: q(1)), highHalf: __m256i(lowHalf: q(2), highHalf: q(3)))
            let lo = _mm512_and_si512(w, mask), hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), mask)
            let dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x.loadUnaligned(as: __m512i.self)),
                                          hi, x.loadUnaligned(fromByteOffset: 64, as: __m512i.self))
            return _mm512_cvtepi32_ps(dot)
        }
        var b = 0
        while b + 8 <= blocks {
            let p = row + bb * b
            let dm = unsafeBitCast(SIMD8<UInt32>(word(p, 0), word(p, 1), word(p, 2), word(p, 3), word(p, 4), word(p, 5), word(p, 6), word(p, 7)),
                                   to: __m256i.self)
            let dw = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(dm))
            let d = _mm512_castps256_ps512(dw * UnsafeRawPointer(xd + b).loadUnaligned(as: SIMD8<Float>.self))
            let xsb = UnsafeRawPointer(xs + b).loadUnaligned(as: SIMD8<Float>.self)
            off8 = off8.addingProduct(minimum ? _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(dm, 16))) : dw, xsb)
            let g = UnsafeRawPointer(xg + 32 * b)            // unit b/4 at 128·(b/4) bytes
            acc0 = acc0.addingProduct(unit(p, g), _mm512_permutexvar_ps(spread0, d))
            acc1 = acc1.addingProduct(unit(p + 4 * bb, g + 128), _mm512_permutexvar_ps(spread1, d))
            b += 8
        }
        var acc = acc0 + acc1
        var off = horizontalSum8(off8)
        while b < blocks {
            let p = row + bb * b
            let two = b + 1 < blocks
            let p1 = two ? p + bb : p
            let d0 = half(p, 0), d1 = two ? half(p1, 0) : 0
            acc = blocks4(p + qs, p1 + qs, two ? loadX2(xq, b) : loadX1(xq, b), pair(d0 * xd[b], d1 * xd[b + (two ? 1 : 0)]), acc)
            if minimum {
                off += half(p, 2) * xs[b] + (two ? half(p1, 2) * xs[b + 1] : 0)
            } else {
                off += d0 * xs[b] + (two ? d1 * xs[b + 1] : 0)
            }
            b += two ? 2 : 1
        }
        return horizontalSum(acc) + (minimum ? off : -8 * off)
    }

    @inline(__always) static func horizontalSum8(_ v: SIMD8<Float>) -> Float {
        let a = v.lowHalf + v.highHalf
        return (a[0] + a[2]) + (a[1] + a[3])
    }

    /// x's block b in both halves (the odd block at a row's end).
    @inline(__always) static func loadX1(_ xq: UnsafePointer<Int8>, _ b: Int) -> __m512i {
        let v = UnsafeRawPointer(xq + 32 * b).loadUnaligned(as: SIMD32<Int8>.self)
        return unsafeBitCast(SIMD64<Int8>(lowHalf: v, highHalf: v), to: __m512i.self)
    }

    /// Q8_0 rows (blocks of 34 bytes: d, int8[32]). `xc` holds, per block, the 8 lanes of
    /// −128·Σ q_x that `vpdpbusd` over (q_w + 128) needs added.
    public static func gemvQ8_0(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xq: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xc: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>) {
        let flip = _mm512_set1_epi8(-128)
        @inline(__always) func q(_ p: UnsafeRawPointer) -> __m256i { p.loadUnaligned(fromByteOffset: 2, as: __m256i.self) }
        for r in rows {
            let row = w + r * rowBytes
            var acc = SIMD16<Float>()
            var b = 0
            while b + 2 <= blocks {
                let p = row + 34 * b
                let wq = _mm512_xor_si512(__m512i(lowHalf: q(p), highHalf: q(p + 34)), flip)
                let start = UnsafeRawPointer(xc + 8 * b).loadUnaligned(as: __m512i.self)
                let dot = _mm512_dpbusd_epi32(start, wq, loadX2(xq, b))
                acc = acc.addingProduct(_mm512_cvtepi32_ps(dot), pair(half(p, 0) * xd[b], half(p, 34) * xd[b + 1]))
                b += 2
            }
            if b < blocks {
                let p = row + 34 * b
                let wq = _mm512_xor_si512(__m512i(lowHalf: q(p), highHalf: q(p)), flip)
                let c = UnsafeRawPointer(xc + 8 * b).loadUnaligned(as: SIMD8<Int32>.self)
                let start = unsafeBitCast(SIMD16<Int32>(lowHalf: c, highHalf: c), to: __m512i.self)
                let dot = _mm512_dpbusd_epi32(start, wq, loadX1(xq, b))
                acc = acc.addingProduct(_mm512_cvtepi32_ps(dot), pair(half(p, 0) * xd[b], 0))
            }
            y[r] = horizontalSum(acc)
        }
    }
}
#endif
