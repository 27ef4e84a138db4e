import XCTest
import TLLMCore
import TLLMData
import TLLMDictionary

final class DictionaryLearningTests: XCTestCase {
    func testBatchObjectiveNeverIncreasesAndAtomsStayInBall() {
        let X = Problems.gaussian(200, 12, seed: 3)
        let fitted = DictionaryLearner(atoms: 20, alpha: 0.5, maxIterations: 25, tolerance: 0).fit(X)
        XCTAssertEqual(fitted.history.count, 25)
        for (a, b) in zip(fitted.history, fitted.history.dropFirst()) { XCTAssertLessThanOrEqual(b, a * (1 + 1e-6)) }
        XCTAssertLessThan(fitted.history.last!, fitted.history.first! * 0.99)
        for r in 0..<fitted.components.rows {
            XCTAssertLessThanOrEqual(fitted.components.row(r).reduce(Float(0)) { $0 + $1 * $1 }, 1 + 1e-5)
        }
    }

    func testUnusedAtomsAreResampled() {
        // More atoms than features: the SVD start leaves atoms beyond the rank at zero; the first
        // update must replace each by a (noisy) sample.
        let X = Problems.gaussian(50, 8, seed: 4)
        let fitted = DictionaryLearner(atoms: 12, alpha: 0.5, maxIterations: 1).fit(X)
        for r in 8..<12 { XCTAssertGreaterThan(fitted.components.row(r).reduce(Float(0)) { $0 + $1 * $1 }, 0.1) }
    }

    func testPlantedDictionaryIsRecovered() {
        let truth = Problems.unitRows(Problems.gaussian(10, 20, seed: 7))
        // Each sample: 3 of 10 atoms with weights ±[1, 2]; α large enough to tell them apart.
        for seed in UInt64(1)...3 {
            let X = Problems.planted(truth, n: 1500, s: 3, noise: 0.01, seed: seed)
            let fitted = DictionaryLearner(atoms: 10, alpha: 0.3, maxIterations: 100, seed: 1).fit(X)
            let cos = truth.times(Problems.unitRows(fitted.components), transposeOther: true)   // [10 true, 10 learned]
            for t in 0..<10 {
                let best = (0..<10).map { abs(cos[t, $0]) }.max()!
                XCTAssertGreaterThanOrEqual(best, 0.95, "data seed \(seed): true atom \(t) found up to sign and order")
            }
        }
    }

    func testOnlineObjectiveFallsOnAFixedStream() {
        let truth = Problems.unitRows(Problems.gaussian(10, 20, seed: 11))
        let X = Problems.planted(truth, n: 600, s: 3, noise: 0.05, seed: 12)
        // The same seeded stream, stopped after more and more passes (no early stopping).
        var objectives: [Double] = []
        for passes in [1, 3, 10] {
            var learner = DictionaryLearner(atoms: 10, alpha: 0.2, batchSize: 50, maxIterations: passes, tolerance: 0, seed: 3)
            learner.maxNoImprovement = .max
            let fitted = learner.fit(X)
            XCTAssertEqual(fitted.iterations, passes * 12)
            objectives.append(fitted.objective(X))
        }
        XCTAssertLessThan(objectives[1], objectives[0])
        XCTAssertLessThan(objectives[2], objectives[1])
        // The same seed gives the same dictionary, bit for bit.
        let a = DictionaryLearner(atoms: 10, alpha: 0.2, batchSize: 50, seed: 3).fit(X)
        let b = DictionaryLearner(atoms: 10, alpha: 0.2, batchSize: 50, seed: 3).fit(X)
        XCTAssertEqual(a.components, b.components)
    }

    func testForgettingFactorMatchesScikitLearn() {
        // β for step t, batch b: θ = (t+1)·b for t < b−1, else b² + t + 1 − b; β = (θ+1−b)/(θ+1).
        var A = Matrix(rows: 1, cols: 1, values: [1]), B = Matrix(rows: 1, cols: 1, values: [1])
        let X = Matrix(rows: 4, cols: 1, values: [0, 0, 0, 0]), U = Matrix(rows: 4, cols: 1, values: [0, 0, 0, 0])
        DictionaryLearner.accumulate(&A, &B, batch: X, codes: U, step: 0, batchSize: 4)
        XCTAssertEqual(A[0, 0], 1.0 / 5.0, accuracy: 1e-7)         // θ = 4, β = 1/5
        A[0, 0] = 1
        DictionaryLearner.accumulate(&A, &B, batch: X, codes: U, step: 10, batchSize: 4)
        XCTAssertEqual(A[0, 0], 20.0 / 24.0, accuracy: 1e-6)       // θ = 16 + 11 − 4 = 23, β = 20/24
    }

    func testSavedDictionaryRoundTrips() throws {
        let fitted = DictionaryLearner(atoms: 6, alpha: 0.25, maxIterations: 3).fit(Problems.gaussian(30, 5, seed: 1))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dict-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try fitted.save(to: url)
        let back = try FittedDictionary.load(url)
        XCTAssertEqual(back.components, fitted.components)
        XCTAssertEqual(back.alpha, 0.25)
    }

    func testMalformedCSVNamesFileLineAndColumn() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func error(_ text: String, label: LabeledVectors.LabelColumn = .first) throws -> String {
            let p = dir.appendingPathComponent("d.csv").path
            try text.write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try LabeledVectors.readCSV(p, label: label); return "" } catch { return "\(error)" }
        }
        let p = dir.appendingPathComponent("d.csv").path
        XCTAssertEqual(try error("1,0.5,0.25\n2,0.1,x\n"), "\(p):2: column 3: 'x' is not a finite number")
        XCTAssertEqual(try error("1,0.5,0.25\n2,0.1\n"), "\(p):2: 2 cells where the first row has 3")
        XCTAssertEqual(try error("1,0.5\n0.5,1\n"), "\(p):2: column 1: label '0.5' is not a non-negative integer")
        XCTAssertEqual(try error("1,nan\n"), "\(p):1: column 2: 'nan' is not a finite number")
        XCTAssertEqual(try error("label,a,b\n"), "\(p): no data rows")
        XCTAssertEqual(try error("label,a,b\n3,1,2\n\n4,5,6\n"), "", "a header line and blank lines are fine")
        let v = try LabeledVectors.readCSV(p)
        XCTAssertEqual(v.labels, [3, 4]); XCTAssertEqual(v.values, [1, 2, 5, 6]); XCTAssertEqual(v.features, 2)
    }

    func testDigitsLoad() throws {
        let d = try LabeledVectors.digits()
        XCTAssertEqual(d.count, 1797); XCTAssertEqual(d.features, 64)
        XCTAssertEqual(Set(d.labels), Set(0..<10))
        XCTAssertEqual(d.values.max(), 1); XCTAssertEqual(d.values.min(), 0)
    }
}

final class CoupledAndSelfTaughtTests: XCTestCase {
    func testMapStepIsTheRidgeSolution() {
        let Us = Problems.gaussian(40, 6, seed: 1), Ut = Problems.gaussian(40, 5, seed: 2)
        let gamma: Float = 0.7, lambda: Float = 0.3
        let W = SemiCoupledDictionaryLearner.mapStep(Us, Ut, gamma: gamma, lambda: lambda)
        // Stationarity of (γ/2)‖U_t − U_s·W‖² + (λ/2)‖W‖²: γ·U_sᵀ(U_s·W − U_t) + λ·W = 0.
        var R = Us.times(W)
        for i in 0..<R.values.count { R.values[i] -= Ut.values[i] }
        let grad = Us.times(R, transposeSelf: true)
        for i in 0..<W.values.count { XCTAssertEqual(gamma * grad.values[i] + lambda * W.values[i], 0, accuracy: 1e-3) }
        // And λ matters: a larger penalty shrinks W.
        let W2 = SemiCoupledDictionaryLearner.mapStep(Us, Ut, gamma: gamma, lambda: 30)
        XCTAssertLessThan(W2.squaredNorm, W.squaredNorm)
    }

    func testSemiCoupledMapsOneDomainIntoTheOther() {
        // Target: sparse combinations of planted atoms; source: a fixed linear degradation of it.
        let truth = Problems.unitRows(Problems.gaussian(12, 16, seed: 21))
        let T = Problems.planted(truth, n: 500, s: 2, noise: 0.01, seed: 22)
        let M = Problems.gaussian(16, 8, seed: 23).scaled(by: 0.3)
        let S = T.times(M)
        let train = Array(0..<400), test = Array(400..<500)
        let sdl = SemiCoupledDictionaryLearner(atoms: 24, alpha: 0.05, iterations: 10).fit(source: S.rows(train), target: T.rows(train))
        for (a, b) in zip(sdl.history, sdl.history.dropFirst()) { XCTAssertLessThanOrEqual(b, a * (1 + 1e-4)) }
        let predicted = sdl.predict(S.rows(test))
        let truthTest = T.rows(test)
        var err = 0.0
        for i in 0..<predicted.values.count { let e = Double(predicted.values[i] - truthTest.values[i]); err += e * e }
        XCTAssertLessThan(err / truthTest.squaredNorm, 0.5, "reconstructs the target far better than predicting zero")
    }

    func testSelfTaughtClassifierLearnsFromCodes() {
        // Two classes made of different planted atoms (positive weights: a linear classifier on
        // codes sees which atoms are active); the dictionary sees unlabelled samples of both.
        let truth = Problems.unitRows(Problems.gaussian(8, 16, seed: 31))
        let a = Problems.planted(truth.rows([0, 1, 2, 3]), n: 120, s: 2, noise: 0.05, seed: 32, signed: false)
        let b = Problems.planted(truth.rows([4, 5, 6, 7]), n: 120, s: 2, noise: 0.05, seed: 33, signed: false)
        let X = Matrix(rows: 240, cols: 16, values: a.values + b.values)
        let labels = [Int](repeating: 0, count: 120) + [Int](repeating: 1, count: 120)
        var model = SelfTaughtClassifier(unlabelled: X, learner: DictionaryLearner(atoms: 8, alpha: 0.1, maxIterations: 30))
        let train = Array(stride(from: 0, to: 240, by: 2)), test = Array(stride(from: 1, to: 240, by: 2))
        model.fit(X.rows(train), labels: train.map { labels[$0] })
        let accuracy = Metrics.accuracy(model.predict(X.rows(test)), test.map { labels[$0] })
        XCTAssertGreaterThan(accuracy, 0.9)
    }
}
