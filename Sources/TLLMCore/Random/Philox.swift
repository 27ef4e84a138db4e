/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
/// counter-based generator. The output for a (key, counter) pair depends on nothing else, so any
/// element of a random stream can be computed independently — in parallel, in any order, on any
/// number of threads — and a stream is fully described by its key and a position.
public enum Philox {
    @inline(__always)
    private static func mulhilo(_ a: UInt32, _ b: UInt32) -> (hi: UInt32, lo: UInt32) {
        let p = UInt64(a) &* UInt64(b)
        return (UInt32(truncatingIfNeeded: p >> 32), UInt32(truncatingIfNeeded: p))
    }

    /// Ten rounds of Philox4x32 on `counter` under `key`.
    @inline(__always)
    public static func block(key: UInt64, counter: UInt64, stream: UInt64)
        -> (UInt32, UInt32, UInt32, UInt32)
    {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream), c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = UInt32(truncatingIfNeeded: key), k1 = UInt32(truncatingIfNeeded: key >> 32)
        for _ in 0..<10 {
            let (hi0, lo0) = mulhilo(0xD251_1F53, c0)
            let (hi1, lo1) = mulhilo(0xCD9E_8D57, c2)
            let n0 = hi1 ^ c1 ^ k0
            let n1 = lo1
            let n2 = hi0 ^ c3 ^ k1
            let n3 = lo0
            c0 = n0; c1 = n1; c2 = n2; c3 = n3
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// A uniform float in [0, 1) from 24 random bits.
    @inline(__always)
    public static func unitFloat(_ x: UInt32) -> Float { Float(x >> 8) * (1.0 / 16_777_216.0) }
}

/// A seeded random stream: `(seed, stream)` names it, `position` says how far it has been read.
///
/// Every draw is a pure function of (seed, stream, position), so saving these three numbers
/// saves the generator exactly (see trainer checkpoints), and bulk fills are computed in parallel
/// with identical results for any thread count.
public struct RandomGenerator: Codable, Equatable, Sendable {
    /// The seed (Philox key).
    public var seed: UInt64
    /// An independent sub-stream of the seed (init, dropout, data order, sampling, …).
    public var stream: UInt64
    /// The number of 4-word blocks consumed so far.
    public var position: UInt64

    /// A generator for `seed`, sub-stream `stream`.
    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
        self.position = 0
    }

    /// A generator for another sub-stream of the same seed.
    public func derived(stream: UInt64) -> RandomGenerator {
        RandomGenerator(seed: seed, stream: stream)
    }

    /// A stream id from a name (FNV-1a), so that named consumers get independent streams.
    public static func streamID(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// 32 random bits (one block per call; simple and position-exact).
    @inline(__always)
    public mutating func nextUInt32() -> UInt32 {
        let b = Philox.block(key: seed, counter: position, stream: stream)
        position &+= 1
        return b.0
    }

    /// 64 random bits.
    @inline(__always)
    public mutating func nextUInt64() -> UInt64 {
        let b = Philox.block(key: seed, counter: position, stream: stream)
        position &+= 1
        return UInt64(b.0) | (UInt64(b.1) << 32)
    }

    /// A uniform float in [0, 1).
    @inline(__always)
    public mutating func nextFloat() -> Float { Philox.unitFloat(nextUInt32()) }

    /// A uniform double in [0, 1) (53 bits).
    @inline(__always)
    public mutating func nextDouble() -> Double { Double(nextUInt64() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// A uniform integer in `0..<n` (unbiased: Lemire's method with rejection).
    public mutating func nextInt(below n: Int) -> Int {
        check(n > 0, "nextInt(below:) needs n > 0")
        let bound = UInt64(n)
        while true {
            let x = nextUInt64()
            let (hi, lo) = x.multipliedFullWidth(by: bound)
            if lo >= (0 &- bound) % bound { return Int(hi) }
        }
    }

    /// A standard normal sample (Box–Muller on one block).
    public mutating func nextNormal() -> Float {
        let b = Philox.block(key: seed, counter: position, stream: stream)
        position &+= 1
        return Self.boxMuller(b.0, b.1).0
    }

    @inline(__always)
    static func boxMuller(_ a: UInt32, _ b: UInt32) -> (Float, Float) {
        // u1 in (0, 1] avoids log(0).
        let u1 = (Double(a) + 1) / 4_294_967_296.0
        let u2 = Double(b) / 4_294_967_296.0
        let r = (-2 * _log(u1)).squareRoot()
        let t = 2 * Double.pi * u2
        return (Float(r * _cos(t)), Float(r * _sin(t)))
    }

    /// Fills `count` floats with N(0, std²); consumes ⌈count/2⌉ blocks; parallel, thread-count independent.
    public mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        let base = position, key = seed, s = stream
        let pairs = (count + 1) / 2
        Parallel.forRanges(pairs, grain: 4096) { r in
            for j in r {
                let b = Philox.block(key: key, counter: base &+ UInt64(j), stream: s)
                let (z0, z1) = RandomGenerator.boxMuller(b.0, b.1)
                p[2 * j] = z0 * std
                if 2 * j + 1 < count { p[2 * j + 1] = z1 * std }
            }
        }
        position &+= UInt64(pairs)
    }

    /// Fills `count` floats uniformly in `[low, high)`; consumes ⌈count/4⌉ blocks.
    public mutating func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        let base = position, key = seed, s = stream
        let quads = (count + 3) / 4
        let span = high - low
        Parallel.forRanges(quads, grain: 4096) { r in
            for j in r {
                let b = Philox.block(key: key, counter: base &+ UInt64(j), stream: s)
                let i0 = 4 * j
                p[i0] = low + span * Philox.unitFloat(b.0)
                if i0 + 1 < count { p[i0 + 1] = low + span * Philox.unitFloat(b.1) }
                if i0 + 2 < count { p[i0 + 2] = low + span * Philox.unitFloat(b.2) }
                if i0 + 3 < count { p[i0 + 3] = low + span * Philox.unitFloat(b.3) }
            }
        }
        position &+= UInt64(quads)
    }

    /// Reserves `blocks` blocks and returns the first one's position, for kernels that draw
    /// element `i` from block `start + i/4` themselves (dropout, masking).
    public mutating func reserve(blocks: Int) -> UInt64 {
        let start = position
        position &+= UInt64(blocks)
        return start
    }

    /// A uniformly random permutation of `0..<n` (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var a = Array(0..<n)
        shuffle(&a)
        return a
    }

    /// Shuffles `a` in place (Fisher–Yates).
    public mutating func shuffle<T>(_ a: inout [T]) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation.sin(x) }

import Foundation
