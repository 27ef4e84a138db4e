import Foundation

/// Limited-memory BFGS (Nocedal & Wright, Algorithm 7.4) with a backtracking Armijo line search —
/// the quasi-Newton method scaling-law fits use (Hoffmann et al. fit with L-BFGS).
public struct LBFGS {
    public var memory = 10
    public var maxIterations = 500
    /// Stop when the gradient's infinity norm is below this.
    public var gradientTolerance = 1e-9
    /// Stop when the objective improves by less than this (relative).
    public var functionTolerance = 1e-14

    public init(memory: Int = 10, maxIterations: Int = 500) {
        self.memory = memory
        self.maxIterations = maxIterations
    }

    public struct Result {
        public var x: [Double]
        public var value: Double
        public var iterations: Int
        public var converged: Bool
    }

    /// Minimises `f` from `x0`; `f` returns the value and fills the gradient.
    public func minimize(_ x0: [Double], _ f: ([Double], inout [Double]) -> Double) -> Result {
        let n = x0.count
        var x = x0
        var g = [Double](repeating: 0, count: n)
        var fx = f(x, &g)
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        var iter = 0
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        while iter < maxIterations {
            iter += 1
            if !fx.isFinite { break }
            if g.map(abs).max() ?? 0 < gradientTolerance { return Result(x: x, value: fx, iterations: iter, converged: true) }
            // Two-loop recursion: d = −H·g.
            var q = g
            var alpha = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alpha[i] = rho[i] * dot(s[i], q)
                for j in 0..<n { q[j] -= alpha[i] * y[i][j] }
            }
            if let ls = s.last, let ly = y.last {
                let gamma = dot(ls, ly) / max(dot(ly, ly), 1e-300)
                for j in 0..<n { q[j] *= gamma }
            }
            for i in 0..<s.count {
                let beta = rho[i] * dot(y[i], q)
                for j in 0..<n { q[j] += s[i][j] * (alpha[i] - beta) }
            }
            var d = q.map { -$0 }
            var slope = dot(g, d)
            if !(slope < 0) {  // not a descent direction: restart with steepest descent
                s.removeAll(); y.removeAll(); rho.removeAll()
                d = g.map { -$0 }
                slope = dot(g, d)
            }
            // Backtracking line search (Armijo).
            var step = 1.0
            var xn = x, gn = g, fn = fx
            var accepted = false
            for _ in 0..<60 {
                for j in 0..<n { xn[j] = x[j] + step * d[j] }
                fn = f(xn, &gn)
                if fn.isFinite && fn <= fx + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            if !accepted { return Result(x: x, value: fx, iterations: iter, converged: false) }
            let sk = zip(xn, x).map { $0 - $1 }, yk = zip(gn, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 * dot(yk, yk).squareRoot() * dot(sk, sk).squareRoot() {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let improvement = fx - fn
            x = xn; g = gn
            let old = fx
            fx = fn
            if improvement >= 0 && improvement <= functionTolerance * max(1, abs(old)) {
                return Result(x: x, value: fx, iterations: iter, converged: true)
            }
        }
        return Result(x: x, value: fx, iterations: iter, converged: false)
    }

    /// Minimises with central-difference gradients.
    public func minimize(_ x0: [Double], value f: @escaping ([Double]) -> Double) -> Result {
        minimize(x0) { x, g in
            var xp = x
            for i in 0..<x.count {
                let h = 1e-6 * max(1, abs(x[i]))
                xp[i] = x[i] + h; let a = f(xp)
                xp[i] = x[i] - h; let b = f(xp)
                xp[i] = x[i]
                g[i] = (a - b) / (2 * h)
            }
            return f(x)
        }
    }
}
