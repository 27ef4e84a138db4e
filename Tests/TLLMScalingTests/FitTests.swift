import Foundation
import XCTest
import TLLMCore
import TLLMScaling
import TLLMTraining

final class OptimizerTests: XCTestCase {
    func testLBFGSOnStandardFunctions() {
        let opt = LBFGS(maxIterations: 2000)
        // Rosenbrock: minimum 0 at (1, 1).
        let r = opt.minimize([-1.2, 1]) { x, g in
            let a = 1 - x[0], b = x[1] - x[0] * x[0]
            g[0] = -2 * a - 400 * x[0] * b
            g[1] = 200 * b
            return a * a + 100 * b * b
        }
        XCTAssertEqual(r.x[0], 1, accuracy: 1e-4)
        XCTAssertEqual(r.x[1], 1, accuracy: 1e-4)
        // Beale: minimum 0 at (3, 0.5), finite-difference gradients.
        let b = opt.minimize([1, 1], value: { x in
            let t1 = 1.5 - x[0] + x[0] * x[1], t2 = 2.25 - x[0] + x[0] * x[1] * x[1], t3 = 2.625 - x[0] + x[0] * x[1] * x[1] * x[1]
            return t1 * t1 + t2 * t2 + t3 * t3
        })
        XCTAssertEqual(b.x[0], 3, accuracy: 1e-3)
        XCTAssertEqual(b.x[1], 0.5, accuracy: 1e-3)
        // An ill-conditioned 10-D quadratic.
        let q = opt.minimize([Double](repeating: 1, count: 10)) { x, g in
            var f = 0.0
            for i in 0..<10 { let c = Foundation.pow(10, Double(i) / 3); f += c * (x[i] - Double(i)) * (x[i] - Double(i)); g[i] = 2 * c * (x[i] - Double(i)) }
            return f
        }
        for i in 0..<10 { XCTAssertEqual(q.x[i], Double(i), accuracy: 1e-5) }
    }
}

final class FitTests: XCTestCase {
    func noise(_ rng: inout RandomGenerator, _ sigma: Double) -> Double { Foundation.exp(sigma * Double(rng.nextNormal())) }

    /// Data from L(N) = 1.8 + 40·N^−0.3 with 0.5% noise: α within 0.05, E within 0.15.
    func testPowerLawRecoversTheExponent() {
        var rng = RandomGenerator(seed: 1)
        let xs = (0..<10).map { Foundation.pow(10, 5 + 0.35 * Double($0)) }
        let ys = xs.map { (1.8 + 40 * Foundation.pow($0, -0.3)) * noise(&rng, 0.005) }
        let f = ScalingFits.powerLaw(x: xs, y: ys, bootstrap: 50)
        XCTAssertEqual(f.parameters["alpha"]!, 0.3, accuracy: 0.05)
        XCTAssertEqual(f.parameters["E"]!, 1.8, accuracy: 0.15)
        // The bootstrap interval is a real interval around the estimate, covers the true exponent,
        // and is narrow at 0.5% noise.
        let ci = f.intervals["alpha"]!, alpha = f.parameters["alpha"]!
        XCTAssertLessThan(ci[0], ci[1])
        XCTAssertLessThanOrEqual(ci[0], alpha)
        XCTAssertLessThanOrEqual(alpha, ci[1])
        XCTAssertLessThanOrEqual(ci[0], 0.3)
        XCTAssertLessThanOrEqual(0.3, ci[1])
        XCTAssertLessThan(ci[1] - ci[0], 0.2, "interval [\(ci[0]), \(ci[1])]")
    }

    /// Data from Hoffmann et al.'s fit (E 1.69, A 406.4, α 0.34, B 410.7, β 0.28) with 0.5% noise on a
    /// 6×6 grid: α and β within 0.05, and the compute-optimal exponents near 0.45 / 0.55.
    func testChinchillaFitRecoversTheLaw() {
        var rng = RandomGenerator(seed: 2)
        var N: [Double] = [], D: [Double] = [], L: [Double] = []
        for i in 0..<6 {
            for j in 0..<6 {
                let n = Foundation.pow(10, 5 + 0.6 * Double(i)), d = Foundation.pow(10, 6 + 0.6 * Double(j))
                N.append(n); D.append(d)
                L.append((1.69 + 406.4 / Foundation.pow(n, 0.34) + 410.7 / Foundation.pow(d, 0.28)) * noise(&rng, 0.005))
            }
        }
        let f = ScalingFits.chinchilla(N: N, D: D, L: L, bootstrap: 20)
        XCTAssertEqual(f.parameters["alpha"]!, 0.34, accuracy: 0.05)
        XCTAssertEqual(f.parameters["beta"]!, 0.28, accuracy: 0.05)
        XCTAssertEqual(f.parameters["E"]!, 1.69, accuracy: 0.2)
        let o1 = ScalingFits.computeOptimal(f, compute: 1e18)!, o2 = ScalingFits.computeOptimal(f, compute: 1e20)!
        let a = Foundation.log(o2.N / o1.N) / Foundation.log(100.0)
        XCTAssertEqual(a, 0.28 / (0.34 + 0.28), accuracy: 0.06)
        XCTAssertEqual(6 * o1.N * o1.D, 1e18, accuracy: 1e18 * 1e-6)
        XCTAssertNotNil(f.intervals["alpha"])
    }

    func testFrontierIsTheLowerEnvelope() {
        let c: [Double] = [1, 2, 4, 8, 1, 2, 4, 8]
        let l: [Double] = [5, 4, 3.5, 3.4, 6, 4.5, 3.0, 2.5]
        let f = ScalingFits.frontier(compute: c, loss: l, bins: 3)
        XCTAssertEqual(f.map(\.l), [5, 4, 2.5])
        for (a, b) in zip(f, f.dropFirst()) { XCTAssertLessThan(b.l, a.l) }
    }
}

final class SweepTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func testGridCellsAndFLOPBudgets() throws {
        var g = SweepGrid(parameters: [100_000, 1_000_000], tokens: [1_000_000, 3_000_000])
        XCTAssertEqual(try g.cells().map(\.id), ["N100K-D1M-s1", "N100K-D3M-s1", "N1M-D1M-s1", "N1M-D3M-s1"])
        g.tokens = nil
        g.flops = [6e11]
        XCTAssertEqual(try g.cells().map(\.tokens), [1_000_000, 100_000])
        g.flops = [1e6]
        XCTAssertThrowsError(try g.cells())  // budget below one batch
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-grid-\(getpid()).json")
        try "{\"parameters\": [1000], \"tokenz\": [5]}".write(to: dir, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SweepGrid.read(dir)) { XCTAssertTrue("\($0)".contains("tokenz"), "\($0)") }
    }

    /// A two-cell sweep: re-running trains nothing, and a cell cut short resumes to the same numbers.
    func testSweepIsIdempotentAndResumes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-sweep-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        var grid = SweepGrid(parameters: [50_000], tokens: [20_480, 40_960])
        grid.context = 64
        grid.evalTokens = 2048
        let runner = SweepRunner(grid: grid, root: root)
        runner.progress = .init(forceLines: true)
        XCTAssertTrue(try runner.run())
        let first = try String(contentsOf: root.appendingPathComponent("sweep.csv"), encoding: .utf8)
        XCTAssertEqual(first.split(separator: "\n").count, 3)
        let curves = try String(contentsOf: root.appendingPathComponent("curves.csv"), encoding: .utf8)
        XCTAssertGreaterThan(curves.split(separator: "\n").count, 4)
        // Re-run: nothing retrains (the summaries keep their timestamps).
        let summary = root.appendingPathComponent("cells/N50K-D41K-s1/summary.json")
        let before = try FileManager.default.attributesOfItem(atPath: summary.path)[.modificationDate] as! Date
        XCTAssertTrue(try runner.run())
        let after = try FileManager.default.attributesOfItem(atPath: summary.path)[.modificationDate] as! Date
        XCTAssertEqual(before, after)
        // Cut the larger cell back to a mid-run checkpoint: the sweep resumes it to the same loss.
        let cell = root.appendingPathComponent("cells/N50K-D41K-s1")
        let valBefore = first.split(separator: "\n")[2].split(separator: ",")[12]
        try FileManager.default.removeItem(at: cell)
        var r = runner.request(SweepGrid.Cell(id: "N50K-D41K-s1", parameters: 50_000, tokens: 40_960, seed: 1))
        r.out = cell
        let plan = try LanguageModelTraining.plan(r, log: { _ in })
        _ = try LanguageModelTraining.execute(plan, progress: ProgressDisplay(forceLines: true), stopAt: 3)
        XCTAssertTrue(try runner.run())
        let again = try String(contentsOf: root.appendingPathComponent("sweep.csv"), encoding: .utf8)
        XCTAssertEqual(again.split(separator: "\n")[2].split(separator: ",")[12], valBefore)
    }
}
