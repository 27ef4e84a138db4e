// Quantized matrix–vector kernels: y[r] = Σ_j W[r, j]·x[j] straight from GGML blocks, no
// dequantized copy of W. One source, compiled twice: TLLMKernelsAVX512 (`-target-cpu
// cascadelake`: each SIMD16 is one zmm register) and TLLMKernelsAVX2 (`-target-cpu haswell`,
// a symlink to this file: each SIMD16 is two ymm registers). TLLMCore picks one at run time.
//
// Block layouts (ggml-common.h; 32 weights per block along a row):
//     Q8_0: d: f16, qs: int8[32]               w = d·q                       34 bytes
//     Q4_0: d: f16, qs: uint8[16]              w = d·(q − 8)                 18 bytes
//     Q4_1: d: f16, m: f16, qs: uint8[16]      w = d·q + m                   20 bytes
//           (weight j < 16 is the low nibble of qs[j], weight j + 16 its high nibble)
//     BF16: the high 16 bits of an f32                                        2 bytes / weight
//
// Unpacking never converts integers to floats lane by lane (Swift's SIMD conversions are not
// vectorised): a block's 32-bit words are broadcast across 16 lanes, shifted and masked so that
// each lane holds one small integer q, and `bits(q | 0x4B000000) − 2²³` is q as a float. The
// lanes come out in a fixed permutation of the block's weights, so x is permuted the same way
// once per product (`permute…`), and the dot product needs no shuffles.

/// 16 floats.
public typealias F16x = SIMD16<Float>
typealias U16x = SIMD16<UInt32>

@inline(__always) func broadcast4(_ w: SIMD4<UInt32>) -> U16x {
    let h = SIMD8<UInt32>(lowHalf: w, highHalf: w)
    return U16x(lowHalf: h, highHalf: h)
}

@inline(__always) func broadcast8(_ w: SIMD8<UInt32>) -> U16x { U16x(lowHalf: w, highHalf: w) }

/// Small non-negative integers in 32-bit lanes (< 2²³) as floats.
@inline(__always) func unsignedToFloat(_ q: U16x) -> F16x {
    unsafeBitCast(q | U16x(repeating: 0x4B00_0000), to: F16x.self) - F16x(repeating: 8_388_608)
}

/// Signed integers |v| < 2²² in 32-bit lanes as floats.
@inline(__always) func signedToFloat(_ v: SIMD16<Int32>) -> F16x {
    unsafeBitCast(v &+ SIMD16<Int32>(repeating: 0x4B40_0000), to: F16x.self) - F16x(repeating: 12_582_912)
}

@inline(__always) func horizontalSum(_ v: F16x) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Per-lane shift counts, produced out of line: when the compiler sees them as constants it
/// "optimizes" the one variable shift of a broadcast into several narrower shifts and lane inserts,
/// which run several times slower.
@inline(never) func opaque(_ v: U16x) -> U16x { v }

@inline(__always) func load(_ p: UnsafeRawPointer, _ offset: Int) -> F16x { p.loadUnaligned(fromByteOffset: offset, as: F16x.self) }

public enum QuantizedKernels {
    // MARK: - Lane orders

    /// The weight index each lane of the two 16-lane vectors of a 4-bit block holds: lane l of
    /// vector v reads nibble k = 4v + l/4 of word w = l mod 4, i.e. byte 4w + k/2, low nibble
    /// (weight 4w + k/2) when k is even, high nibble (weight 16 + 4w + k/2) when odd.
    public static func nibbleLane(_ v: Int, _ l: Int) -> Int {
        let w = l % 4, k = 4 * v + l / 4
        return k % 2 == 0 ? 4 * w + k / 2 : 16 + 4 * w + k / 2
    }

    /// Q8_0: lane l of vector v reads byte k = 2v + l/8 of word w = l mod 8: weight 4w + k.
    public static func byteLane(_ v: Int, _ l: Int) -> Int { 4 * (l % 8) + 2 * v + l / 8 }

    /// BF16: vector 0 holds the even weights of a 32-weight group, vector 1 the odd ones.
    public static func halfLane(_ v: Int, _ l: Int) -> Int { 2 * l + v }

    /// Writes `x[0..<count]` (count a multiple of 32) in the lane order `lane(vector, lane)`.
    @inline(__always)
    public static func permute(_ x: UnsafePointer<Float>, count: Int, into xp: UnsafeMutablePointer<Float>, lane: (Int, Int) -> Int) {
        var map = [Int](repeating: 0, count: 32)
        for v in 0..<2 { for l in 0..<16 { map[16 * v + l] = lane(v, l) } }
        for b in stride(from: 0, to: count, by: 32) { for i in 0..<32 { xp[b + i] = x[b + map[i]] } }
    }

    /// Sums of each block of 32 (for the Q4 offsets).
    public static func blockSums(_ x: UnsafePointer<Float>, count: Int, into s: UnsafeMutablePointer<Float>) {
        for b in 0..<(count / 32) {
            let v = load(UnsafeRawPointer(x + 32 * b), 0) + load(UnsafeRawPointer(x + 32 * b), 64)
            s[b] = horizontalSum(v)
        }
    }

    // MARK: - Matrix–vector products over rows r0..<r1

    /// Q4_1 rows: `y[r] = Σ_b d_b·Σ q·x + m_b·Σx_b`. `xp` is x permuted by ``nibbleLane(_:_:)``,
    /// `xs` its block sums. Two blocks per step into two accumulators, so that the loop-carried
    /// fused multiply-adds overlap.
    public static func gemvQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xp: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let x = UnsafeRawPointer(xp)
        let s0 = opaque(U16x(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12)), s1 = opaque(s0 &+ 16)
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = F16x(repeating: 0), acc1 = F16x(repeating: 0)
            var off0: Float = 0, off1: Float = 0
            var b = 0
            while b + 2 <= blocks {
                acc0 = blockQ4(row + 20 * b, 4, x, b, acc0, s0, s1)
                acc1 = blockQ4(row + 20 * (b + 1), 4, x, b + 1, acc1, s0, s1)
                off0 += Float(row.loadUnaligned(fromByteOffset: 20 * b + 2, as: Float16.self)) * xs[b]
                off1 += Float(row.loadUnaligned(fromByteOffset: 20 * (b + 1) + 2, as: Float16.self)) * xs[b + 1]
                b += 2
            }
            if b < blocks {
                acc0 = blockQ4(row + 20 * b, 4, x, b, acc0, s0, s1)
                off0 += Float(row.loadUnaligned(fromByteOffset: 20 * b + 2, as: Float16.self)) * xs[b]
            }
            y[r] = horizontalSum(acc0 + acc1) + (off0 + off1)
        }
    }

    /// `acc + d·Σ q·x` for the 4-bit block at `p` (scale at 0, nibbles at `qs`) and x block `b`.
    @inline(__always)
    static func blockQ4(_ p: UnsafeRawPointer, _ qs: Int, _ x: UnsafeRawPointer, _ b: Int, _ acc: F16x, _ s0: U16x, _ s1: U16x) -> F16x {
        let mask = U16x(repeating: 0xF)
        let d = Float(p.loadUnaligned(as: Float16.self))
        let q = broadcast4(p.loadUnaligned(fromByteOffset: qs, as: SIMD4<UInt32>.self))
        let lo = unsignedToFloat((q &>> s0) & mask), hi = unsignedToFloat((q &>> s1) & mask)
        let dot = (lo * load(x, 128 * b)).addingProduct(hi, load(x, 128 * b + 64))
        return acc.addingProduct(dot, F16x(repeating: d))
    }

    /// Q4_0 rows: `y[r] = Σ_b d_b·(Σ q·x − 8·Σx_b)`.
    public static func gemvQ4_0(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xp: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let x = UnsafeRawPointer(xp)
        let s0 = opaque(U16x(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12)), s1 = opaque(s0 &+ 16)
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = F16x(repeating: 0), acc1 = F16x(repeating: 0)
            var off0: Float = 0, off1: Float = 0
            var b = 0
            while b + 2 <= blocks {
                acc0 = blockQ4(row + 18 * b, 2, x, b, acc0, s0, s1)
                acc1 = blockQ4(row + 18 * (b + 1), 2, x, b + 1, acc1, s0, s1)
                off0 -= 8 * Float(row.loadUnaligned(fromByteOffset: 18 * b, as: Float16.self)) * xs[b]
                off1 -= 8 * Float(row.loadUnaligned(fromByteOffset: 18 * (b + 1), as: Float16.self)) * xs[b + 1]
                b += 2
            }
            if b < blocks {
                acc0 = blockQ4(row + 18 * b, 2, x, b, acc0, s0, s1)
                off0 -= 8 * Float(row.loadUnaligned(fromByteOffset: 18 * b, as: Float16.self)) * xs[b]
            }
            y[r] = horizontalSum(acc0 + acc1) + (off0 + off1)
        }
    }

    /// Q8_0 rows: `y[r] = Σ_b d_b·Σ q·x`. `xp` is x permuted by ``byteLane(_:_:)``.
    public static func gemvQ8_0(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int,
                                xp: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let x = UnsafeRawPointer(xp)
        let k0 = opaque(U16x(24, 24, 24, 24, 24, 24, 24, 24, 16, 16, 16, 16, 16, 16, 16, 16)), k1 = opaque(k0 &- 16)
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = F16x(repeating: 0), acc1 = F16x(repeating: 0)
            var b = 0
            while b + 2 <= blocks {
                acc0 = blockQ8(row + 34 * b, x, b, acc0, k0, k1)
                acc1 = blockQ8(row + 34 * (b + 1), x, b + 1, acc1, k0, k1)
                b += 2
            }
            if b < blocks { acc0 = blockQ8(row + 34 * b, x, b, acc0, k0, k1) }
            y[r] = horizontalSum(acc0 + acc1)
        }
    }

    @inline(__always)
    static func blockQ8(_ p: UnsafeRawPointer, _ x: UnsafeRawPointer, _ b: Int, _ acc: F16x, _ k0: U16x, _ k1: U16x) -> F16x {
        let d = Float(p.loadUnaligned(as: Float16.self))
        let q = broadcast8(p.loadUnaligned(fromByteOffset: 2, as: SIMD8<UInt32>.self))
        let lo = signedToFloat(unsafeBitCast(q &<< k0, to: SIMD16<Int32>.self) &>> 24)
        let hi = signedToFloat(unsafeBitCast(q &<< k1, to: SIMD16<Int32>.self) &>> 24)
        let dot = (lo * load(x, 128 * b)).addingProduct(hi, load(x, 128 * b + 64))
        return acc.addingProduct(dot, F16x(repeating: d))
    }

    /// BF16 rows (`cols` a multiple of 32): `y[r] = Σ_j bf16(W[r, j])·x[j]`. `xp` is x permuted by
    /// ``halfLane(_:_:)``.
    public static func gemvBF16(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, cols: Int,
                                xp: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let high = U16x(repeating: 0xFFFF_0000)
        let x = UnsafeRawPointer(xp)
        for r in rows {
            let row = w + r * rowBytes
            var acc0 = F16x(repeating: 0), acc1 = F16x(repeating: 0)
            for g in 0..<(cols / 32) {
                let q = row.loadUnaligned(fromByteOffset: 64 * g, as: U16x.self)
                acc0 = acc0.addingProduct(unsafeBitCast(q &<< 16, to: F16x.self), load(x, 128 * g))
                acc1 = acc1.addingProduct(unsafeBitCast(q & high, to: F16x.self), load(x, 128 * g + 64))
            }
            y[r] = horizontalSum(acc0 + acc1)
        }
    }
}
