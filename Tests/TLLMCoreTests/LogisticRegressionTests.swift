import XCTest
import TLLMCore

final class LogisticRegressionTests: XCTestCase {
    /// Three Gaussian blobs in 4-D.
    func blobs(_ n: Int, seed: UInt64) -> ([Float], [Int]) {
        var rng = RandomGenerator(seed: seed)
        var x: [Float] = [], y: [Int] = []
        let centers: [[Float]] = [[2, 0, 0, 1], [0, 2, 0, -1], [0, 0, 2, 0]]
        for i in 0..<n {
            let c = i % 3
            y.append(c)
            for j in 0..<4 { x.append(centers[c][j] + rng.nextNormal()) }
        }
        return (x, y)
    }

    func testLossGradientMatchesFiniteDifferences() {
        let (x, y) = blobs(30, seed: 1)
        var model = LogisticRegression(C: 0.5)
        model.fit(x, features: 4, labels: y)          // sets the standardisation and sizes
        var rng = RandomGenerator(seed: 2)
        let p = (0..<15).map { _ in Double(rng.nextNormal()) }
        let g = model.objective(p, x, labels: y).gradient
        for i in 0..<15 {
            var a = p, b = p
            a[i] += 1e-5; b[i] -= 1e-5
            let numeric = (model.objective(a, x, labels: y).value - model.objective(b, x, labels: y).value) / 2e-5
            XCTAssertEqual(g[i], numeric, accuracy: 1e-4 * max(1, abs(numeric)))
        }
    }

    func testFitsBlobsAndConverges() {
        let (x, y) = blobs(300, seed: 3)
        var model = LogisticRegression()
        model.fit(x, features: 4, labels: y)
        let (xt, yt) = blobs(300, seed: 4)
        XCTAssertGreaterThan(Metrics.accuracy(model.predict(xt), yt), 0.85)
        // At the optimum the gradient vanishes.
        let g = model.objective((model.weights + model.bias).map(Double.init), x, labels: y).gradient
        XCTAssertLessThan(g.map(abs).max()!, 1e-2)
        // Stronger regularisation shrinks the weights.
        var strong = LogisticRegression(C: 0.001)
        strong.fit(x, features: 4, labels: y)
        XCTAssertLessThan(strong.weights.map { $0 * $0 }.reduce(0, +), model.weights.map { $0 * $0 }.reduce(0, +))
    }
}
