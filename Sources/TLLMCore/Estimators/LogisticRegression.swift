import Foundation

/// Multinomial logistic regression on dense features, fitted by L-BFGS — scikit-learn's
/// `LogisticRegression(C=1, solver="lbfgs")` preceded by a `StandardScaler`.
///
/// Minimises Σᵢ −log softmax(Wxᵢ + b)[yᵢ] + ‖W‖²/(2C) (the bias unpenalised) on features
/// standardised with the training mean and deviation. Defaults: C 1, 500 L-BFGS iterations,
/// gradient tolerance 1e-5, standardisation on.
public struct LogisticRegression: Sendable {
    public var C: Double = 1
    public var maxIterations = 500
    public var standardize = true
    /// `[classes, features]`, acting on standardised features.
    public private(set) var weights: [Float] = []
    public private(set) var bias: [Float] = []
    public private(set) var classes = 0
    public private(set) var features = 0
    var mean: [Float] = [], invStd: [Float] = []

    public init(C: Double = 1, maxIterations: Int = 500, standardize: Bool = true) {
        self.C = C; self.maxIterations = maxIterations; self.standardize = standardize
    }

    /// Fits to `x` (`[n, features]`, row-major) and labels in `0..<classes`.
    public mutating func fit(_ x: [Float], features d: Int, labels: [Int], classes k: Int? = nil) {
        let n = labels.count
        precondition(n > 0 && x.count == n * d, "LogisticRegression.fit: \(x.count) values for \(n) labels × \(d) features")
        let K = k ?? ((labels.max() ?? 0) + 1)
        features = d; classes = K
        (mean, invStd) = standardize ? Self.moments(x, d) : ([Float](repeating: 0, count: d), [Float](repeating: 1, count: d))
        let z = scaled(x)
        var lbfgs = LBFGS(memory: 10, maxIterations: maxIterations)
        lbfgs.gradientTolerance = 1e-5
        let result = lbfgs.minimize([Double](repeating: 0, count: K * d + K)) { p, g in
            self.loss(p, z, labels, d: d, K: K, gradient: &g)
        }
        weights = result.x[0..<(K * d)].map { Float($0) }
        bias = result.x[(K * d)...].map { Float($0) }
    }

    /// Class scores `[n, classes]`.
    public func decisionFunction(_ x: [Float]) -> [Float] {
        let n = x.count / features
        var out = [Float](repeating: 0, count: n * classes)
        let z = scaled(x)
        z.withUnsafeBufferPointer { zp in weights.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { o in
            GEMM.sgemm(transA: false, transB: true, m: n, n: classes, k: features, a: zp.baseAddress!, lda: features,
                       b: w.baseAddress!, ldb: features, c: o.baseAddress!, ldc: classes)
        } } }
        for i in 0..<n { for c in 0..<classes { out[i * classes + c] += bias[c] } }
        return out
    }

    /// Predicted classes.
    public func predict(_ x: [Float]) -> [Int] {
        let s = decisionFunction(x)
        return (0..<(x.count / features)).map { i in
            var best = 0
            for c in 1..<classes where s[i * classes + c] > s[i * classes + best] { best = c }
            return best
        }
    }

    /// The training objective and its gradient at parameters `p` (`[classes·features]` weights,
    /// then `[classes]` biases) on raw features `x`, after `fit` has set the standardisation.
    public func objective(_ p: [Double], _ x: [Float], labels: [Int]) -> (value: Double, gradient: [Double]) {
        var g = [Double](repeating: 0, count: p.count)
        let v = loss(p, scaled(x), labels, d: features, K: classes, gradient: &g)
        return (v, g)
    }

    // MARK: - Internals

    func scaled(_ x: [Float]) -> [Float] {
        var z = x
        for i in 0..<(x.count / features) { for j in 0..<features { z[i * features + j] = (z[i * features + j] - mean[j]) * invStd[j] } }
        return z
    }

    /// The penalised negative log-likelihood and its gradient (in double).
    func loss(_ p: [Double], _ z: [Float], _ y: [Int], d: Int, K: Int, gradient g: inout [Double]) -> Double {
        let n = y.count
        for i in g.indices { g[i] = 0 }
        var total = 0.0
        var s = [Double](repeating: 0, count: K)
        for i in 0..<n {
            let row = i * d
            for c in 0..<K {
                var a = p[K * d + c]
                for j in 0..<d { a += p[c * d + j] * Double(z[row + j]) }
                s[c] = a
            }
            let m = s.max()!
            var sum = 0.0
            for c in 0..<K { s[c] = exp(s[c] - m); sum += s[c] }
            total += -log(s[y[i]] / sum)
            for c in 0..<K {
                let r = s[c] / sum - (c == y[i] ? 1 : 0)
                if r == 0 { continue }
                for j in 0..<d { g[c * d + j] += r * Double(z[row + j]) }
                g[K * d + c] += r
            }
        }
        var reg = 0.0
        for i in 0..<(K * d) { reg += p[i] * p[i]; g[i] += p[i] / C }
        return total + reg / (2 * C)
    }

    static func moments(_ x: [Float], _ d: Int) -> ([Float], [Float]) {
        let n = x.count / d
        var mean = [Float](repeating: 0, count: d), inv = mean
        for j in 0..<d {
            var m = 0.0, v = 0.0
            for i in 0..<n { m += Double(x[i * d + j]) }
            m /= Double(n)
            for i in 0..<n { let e = Double(x[i * d + j]) - m; v += e * e }
            let sd = (v / Double(n)).squareRoot()
            mean[j] = Float(m); inv[j] = sd > 1e-12 ? Float(1 / sd) : 1
        }
        return (mean, inv)
    }
}
