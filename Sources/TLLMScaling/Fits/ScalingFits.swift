import Foundation
import TLLMCore

/// Scaling-law fits.
///
/// - One-variable laws `L(x) = E + A·x^−α` (parameters, data or compute): least squares on log L
///   over (log A, α, log E), from a grid of starting points, with L-BFGS.
/// - Chinchilla `L(N, D) = E + A/N^α + B/D^β` as Hoffmann et al. (2022, approach 3) fit it: the
///   Huber loss (δ = 10⁻³) of `LSE(a − α·log N, b − β·log D, e) − log L` over all runs, minimised
///   with L-BFGS from a grid of starting points, with `A = eᵃ, B = eᵇ, E = eᵉ`.
/// Confidence intervals come from a seeded bootstrap over the data points.
public enum ScalingFits {
    // MARK: - Results

    public struct Fit: Codable, Sendable {
        public var law: String
        /// Fitted parameters by name (E, A, alpha / B, beta …).
        public var parameters: [String: Double]
        /// 95% bootstrap intervals by parameter name: [low, high].
        public var intervals: [String: [Double]]
        /// The objective at the optimum (mean squared log error, or total Huber loss).
        public var loss: Double
        public var points: Int

        /// What makes this fit weak, in words: as many points as parameters (an exact fit, whose
        /// intervals mean nothing), or an irreducible loss E pinned at its lower bound 0.
        public var warnings: [String] {
            var w: [String] = []
            if points <= parameters.count {
                w.append("\(points) points for \(parameters.count) parameters: the curve passes through every point and the intervals mean nothing")
            }
            if let e = parameters["E"], e < 1e-6 {
                w.append("E is at its lower bound 0: these data do not identify an irreducible loss")
            }
            return w
        }

        enum CodingKeys: String, CodingKey { case law, parameters, intervals, loss, points, warnings }

        public init(law: String, parameters: [String: Double], intervals: [String: [Double]], loss: Double, points: Int) {
            self.law = law; self.parameters = parameters; self.intervals = intervals; self.loss = loss; self.points = points
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            law = try c.decode(String.self, forKey: .law); parameters = try c.decode([String: Double].self, forKey: .parameters)
            intervals = try c.decode([String: [Double]].self, forKey: .intervals)
            loss = try c.decode(Double.self, forKey: .loss); points = try c.decode(Int.self, forKey: .points)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(law, forKey: .law); try c.encode(parameters, forKey: .parameters); try c.encode(intervals, forKey: .intervals)
            try c.encode(loss, forKey: .loss); try c.encode(points, forKey: .points); try c.encode(warnings, forKey: .warnings)
        }
    }

    // MARK: - Power law in one variable

    /// Fits `y = E + A·x^−α` to positive `(x, y)` points.
    public static func powerLaw(x: [Double], y: [Double], law: String = "L(x) = E + A·x^-alpha", scale: String = "A", exponent: String = "alpha",
                                bootstrap: Int = 200, seed: UInt64 = 1) -> Fit {
        let best = fitPower(x, y)
        var samples: [[Double]] = []
        var rng = RandomGenerator(seed: seed, stream: 31)
        if x.count >= 3 {
            for _ in 0..<bootstrap {
                let idx = (0..<x.count).map { _ in rng.nextInt(below: x.count) }
                if Set(idx).count < 3 { continue }
                let p = fitPower(idx.map { x[$0] }, idx.map { y[$0] }, start: best.p)
                samples.append(p.p)
            }
        }
        let names = ["E", scale, exponent]
        let values = [Foundation.exp(best.p[2]), Foundation.exp(best.p[0]), best.p[1]]
        var intervals: [String: [Double]] = [:]
        for (k, nm) in names.enumerated() where !samples.isEmpty {
            let v = samples.map { k == 0 ? Foundation.exp($0[2]) : (k == 1 ? Foundation.exp($0[0]) : $0[1]) }.sorted()
            intervals[nm] = [percentile(v, 0.025), percentile(v, 0.975)]
        }
        return Fit(law: law, parameters: Dictionary(uniqueKeysWithValues: zip(names, values)), intervals: intervals,
                   loss: best.loss, points: x.count)
    }

    /// Parameters (log A, α, log E).
    static func fitPower(_ x: [Double], _ y: [Double], start: [Double]? = nil) -> (p: [Double], loss: Double) {
        let lx = x.map { Foundation.log($0) }, ly = y.map { Foundation.log($0) }
        let n = Double(x.count)
        func f(_ p: [Double], _ g: inout [Double]) -> Double {
            let a = p[0], al = p[1], e = p[2]
            var loss = 0.0
            g = [0, 0, 0]
            for i in 0..<x.count {
                let t1 = a - al * lx[i], t2 = e
                let m = max(t1, t2)
                let z = Foundation.exp(t1 - m) + Foundation.exp(t2 - m)
                let pred = m + Foundation.log(z)
                let r = pred - ly[i]
                loss += r * r / n
                let w1 = Foundation.exp(t1 - m) / z, w2 = Foundation.exp(t2 - m) / z
                g[0] += 2 * r * w1 / n
                g[1] += 2 * r * w1 * (-lx[i]) / n
                g[2] += 2 * r * w2 / n
            }
            return loss
        }
        var starts: [[Double]] = []
        if let start { starts.append(start) }
        let minLy = ly.min() ?? 0
        for al in [0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2] {
            for eFrac in [0.0, 0.5, 0.9, 0.99] {
                let e = eFrac == 0 ? minLy - 3 : Foundation.log(eFrac) + minLy
                // Choose a so that the curve passes near the first point.
                let rest = max(1e-9, Foundation.exp(ly[0]) - Foundation.exp(e))
                starts.append([Foundation.log(rest) + al * lx[0], al, e])
            }
        }
        let opt = LBFGS(maxIterations: 300)
        var best: (p: [Double], loss: Double) = (starts[0], .infinity)
        for s in starts {
            let r = opt.minimize(s, f)
            if r.value < best.loss && r.x.allSatisfy(\.isFinite) { best = (r.x, r.value) }
        }
        return best
    }

    // MARK: - Chinchilla

    /// Fits `L(N, D) = E + A/N^α + B/D^β` (Hoffmann et al.'s method).
    public static func chinchilla(N: [Double], D: [Double], L: [Double], delta: Double = 1e-3, bootstrap: Int = 100, seed: UInt64 = 1) -> Fit {
        let best = fitChinchilla(N, D, L, delta: delta, grid: true)
        var samples: [[Double]] = []
        var rng = RandomGenerator(seed: seed, stream: 37)
        if N.count >= 6 {
            for _ in 0..<bootstrap {
                let idx = (0..<N.count).map { _ in rng.nextInt(below: N.count) }
                if Set(idx).count < 5 { continue }
                let p = fitChinchilla(idx.map { N[$0] }, idx.map { D[$0] }, idx.map { L[$0] }, delta: delta, grid: false, start: best.p)
                samples.append(p.p)
            }
        }
        let names = ["A", "alpha", "B", "beta", "E"]
        func named(_ p: [Double]) -> [Double] { [Foundation.exp(p[0]), p[1], Foundation.exp(p[2]), p[3], Foundation.exp(p[4])] }
        let values = named(best.p)
        var intervals: [String: [Double]] = [:]
        if !samples.isEmpty {
            let ns = samples.map(named)
            for (k, nm) in names.enumerated() {
                let v = ns.map { $0[k] }.sorted()
                intervals[nm] = [percentile(v, 0.025), percentile(v, 0.975)]
            }
        }
        return Fit(law: "L(N, D) = E + A/N^alpha + B/D^beta", parameters: Dictionary(uniqueKeysWithValues: zip(names, values)),
                   intervals: intervals, loss: best.loss, points: N.count)
    }

    /// Parameters (a, α, b, β, e).
    static func fitChinchilla(_ N: [Double], _ D: [Double], _ L: [Double], delta: Double, grid: Bool, start: [Double]? = nil) -> (p: [Double], loss: Double) {
        let ln = N.map { Foundation.log($0) }, ld = D.map { Foundation.log($0) }, ll = L.map { Foundation.log($0) }
        func f(_ p: [Double], _ g: inout [Double]) -> Double {
            let (a, al, b, be, e) = (p[0], p[1], p[2], p[3], p[4])
            var loss = 0.0
            g = [0, 0, 0, 0, 0]
            for i in 0..<N.count {
                let t = [a - al * ln[i], b - be * ld[i], e]
                let m = t.max()!
                let w = t.map { Foundation.exp($0 - m) }
                let z = w.reduce(0, +)
                let r = m + Foundation.log(z) - ll[i]
                // Huber loss and its derivative.
                let h: Double, dh: Double
                if abs(r) <= delta { h = 0.5 * r * r; dh = r } else { h = delta * (abs(r) - 0.5 * delta); dh = delta * (r > 0 ? 1 : -1) }
                loss += h
                g[0] += dh * w[0] / z
                g[1] += dh * w[0] / z * (-ln[i])
                g[2] += dh * w[1] / z
                g[3] += dh * w[1] / z * (-ld[i])
                g[4] += dh * w[2] / z
            }
            return loss
        }
        var starts: [[Double]] = []
        if let start { starts.append(start) }
        if grid {
            // Hoffmann et al.'s grid: α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}.
            for al in stride(from: 0.0, through: 2.0, by: 0.5) {
                for be in stride(from: 0.0, through: 2.0, by: 0.5) {
                    for e in stride(from: -1.0, through: 1.0, by: 0.5) {
                        for a in stride(from: 0.0, through: 25.0, by: 5.0) {
                            for b in stride(from: 0.0, through: 25.0, by: 5.0) { starts.append([a, al, b, be, e]) }
                        }
                    }
                }
            }
        }
        let opt = LBFGS(maxIterations: 400)
        var best: (p: [Double], loss: Double) = (starts[0], .infinity)
        for s in starts {
            let r = opt.minimize(s, f)
            if r.value < best.loss && r.x.allSatisfy(\.isFinite) { best = (r.x, r.value) }
        }
        return best
    }

    /// Compute-optimal allocation for `C ≈ 6·N·D` under a Chinchilla fit:
    /// `N* = G·(C/6)^(β/(α+β))`, `D* = (C/6)^(α/(α+β)) / G`, `G = (αA/(βB))^(1/(α+β))`.
    public static func computeOptimal(_ fit: Fit, compute C: Double) -> (N: Double, D: Double)? {
        let A = fit.parameters["A"]!, al = fit.parameters["alpha"]!, B = fit.parameters["B"]!, be = fit.parameters["beta"]!
        guard al > 0, be > 0 else { return nil }  // no trade-off to optimise
        let G = Foundation.pow(al * A / (be * B), 1 / (al + be))
        return (G * Foundation.pow(C / 6, be / (al + be)), Foundation.pow(C / 6, al / (al + be)) / G)
    }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(sorted.count - 1, lo + 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }

    /// The lower envelope of (compute, loss) points: the best loss reached at or below each compute
    /// level, thinned to `bins` log-spaced points.
    public static func frontier(compute: [Double], loss: [Double], bins: Int = 16) -> [(c: Double, l: Double)] {
        let pts = zip(compute, loss).filter { $0.0 > 0 && $0.1.isFinite }.sorted { $0.0 < $1.0 }
        guard let lo = pts.first?.0, let hi = pts.last?.0, hi > lo else { return pts.map { ($0.0, $0.1) } }
        var out: [(Double, Double)] = []
        let l0 = Foundation.log(lo), l1 = Foundation.log(hi)
        for k in 0..<bins {
            let a = Foundation.exp(l0 + (l1 - l0) * Double(k) / Double(bins))
            let b = k == bins - 1 ? hi : Foundation.exp(l0 + (l1 - l0) * Double(k + 1) / Double(bins))
            let inBin = pts.filter { $0.0 >= a && ($0.0 < b || (k == bins - 1 && $0.0 <= b)) }
            if let m = inBin.min(by: { $0.1 < $1.1 }) {
                if let last = out.last, m.1 >= last.1 { continue }  // keep the envelope decreasing
                out.append(m)
            }
        }
        return out
    }
}
