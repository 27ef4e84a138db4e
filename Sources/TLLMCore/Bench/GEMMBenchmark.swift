import Foundation

/// Measures `cblas_sgemm` throughput: the roofline every model-FLOPs-utilization figure is
/// relative to.
public enum GEMMBenchmark {
    /// One measured product.
    public struct Result: Codable, Sendable {
        public var label: String
        public var m: Int, n: Int, k: Int
        public var transA: Bool, transB: Bool
        public var gflops: Double
        public var seconds: Double
        public var repetitions: Int
    }

    /// Times `C[m×n] = op(A)·op(B)` over at least `minSeconds` after a warm-up; returns the best
    /// of three windows (GFLOP/s = 2mnk / time).
    public static func measure(label: String, m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false,
                               minSeconds: Double = 0.25) -> Result {
        BLASRuntime.prepare()
        var rng = RandomGenerator(seed: 1)
        let a = Tensor.uniform([m * k], low: -1, high: 1, rng: &rng)
        let b = Tensor.uniform([k * n], low: -1, high: 1, rng: &rng)
        let c = Tensor(zeros: [m * n])
        let lda = transA ? m : k, ldb = transB ? k : n
        func run() {
            GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: lda,
                       b: b.data, ldb: ldb, c: c.data, ldc: n)
        }
        run()
        let flop = 2.0 * Double(m) * Double(n) * Double(k)
        var reps = max(1, Int(1e9 / flop))
        var best = 0.0, bestTime = 0.0, bestReps = 0
        for _ in 0..<3 {
            var elapsed = 0.0
            while true {
                let t0 = Clock.now()
                for _ in 0..<reps { run() }
                elapsed = Clock.now() - t0
                if elapsed >= minSeconds / 3 { break }
                reps = Int(Double(reps) * max(2, (minSeconds / 3) / max(elapsed, 1e-6)))
            }
            let g = flop * Double(reps) / elapsed / 1e9
            if g > best { best = g; bestTime = elapsed; bestReps = reps }
        }
        return Result(label: label, m: m, n: n, k: k, transA: transA, transB: transB,
                      gflops: best, seconds: bestTime, repetitions: bestReps)
    }

    /// Square sizes and the products of one transformer layer for `tokens × dModel`
    /// (QKV, attention output, MLP up and down, LM head), forward and both backward forms.
    public static func standardSuite(tokens: Int = 4096, dModel: Int = 384, vocab: Int = 8192,
                                     squares: [Int] = [256, 512, 1024, 2048]) -> [Result] {
        var out: [Result] = []
        for s in squares { out.append(measure(label: "square \(s)", m: s, n: s, k: s)) }
        let d = dModel, t = tokens
        for (name, mult) in [("qkv", 3), ("attn-out", 1), ("mlp-up", 4)] {
            let o = mult * d
            out.append(measure(label: "\(name) fwd  x·Wᵀ", m: t, n: o, k: d, transB: true))
            out.append(measure(label: "\(name) bwd  dY·W", m: t, n: d, k: o))
            out.append(measure(label: "\(name) bwd  dYᵀ·X", m: o, n: d, k: t, transA: true))
        }
        out.append(measure(label: "mlp-down fwd x·Wᵀ", m: t, n: d, k: 4 * d, transB: true))
        out.append(measure(label: "mlp-down bwd dY·W", m: t, n: 4 * d, k: d))
        out.append(measure(label: "mlp-down bwd dYᵀ·X", m: d, n: 4 * d, k: t, transA: true))
        out.append(measure(label: "lm-head fwd  x·Eᵀ", m: t, n: vocab, k: d, transB: true))
        return out
    }

    /// The peak over a suite: the roofline for MFU.
    public static func peak(_ results: [Result]) -> Double { results.map(\.gflops).max() ?? 0 }
}

/// Monotonic wall-clock seconds.
public enum Clock {
    @inline(__always)
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
