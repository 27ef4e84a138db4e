// MARK: - Dropout (seeded, counter-based)

extension Tensor {
    /// Inverted dropout: each element is zeroed with probability `p` and the rest scaled by
    /// 1/(1−p). Element `i` keeps or drops according to Philox block `start + i/4` of `rng`, so the
    /// mask is reproducible, independent of the thread count, and recomputed (not stored) in backward.
    public func dropout(_ p: Float, rng: inout RandomGenerator) -> Tensor {
        check(p >= 0 && p < 1, "dropout: p must be in [0, 1), got \(p)")
        if p == 0 { return self }
        let a = self
        let n = count
        let start = rng.reserve(blocks: (n + 3) / 4)
        let key = rng.seed, stream = rng.stream
        let threshold = UInt32(min(Double(UInt32.max), Double(p) * 4_294_967_296.0))
        let keepScale = 1 / (1 - p)
        @inline(__always) func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                     _ r: Range<Int>, accumulate: Bool) {
            // r is a range of 4-element groups.
            for q in r {
                let b = Philox.block(key: key, counter: start &+ UInt64(q), stream: stream)
                let i0 = 4 * q
                let words = (b.0, b.1, b.2, b.3)
                withUnsafeBytes(of: words) { raw in
                    let w = raw.bindMemory(to: UInt32.self)
                    for k in 0..<4 where i0 + k < n {
                        let v = w[k] < threshold ? 0 : src[i0 + k] * keepScale
                        put(dst, i0 + k, v, accumulate)
                    }
                }
            }
        }
        let out = Tensor(uninitialized: shape)
        let groups = (n + 3) / 4
        Parallel.forRanges(groups, grain: 4096) { r in apply(a.data, out.data, r, accumulate: false) }
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer
                a.withGradBuffer { d, acc in
                    Parallel.forRanges(groups, grain: 4096) { r in apply(g, d, r, accumulate: acc) }
                }
            }
        }
        return out
    }
}
