import Foundation
import TLLMCore
import TLLMPlot

/// `tllm fit`: the four fits of a sweep, from `sweep.csv` (and `curves.csv` beside it).
public enum FitReport {
    public struct Report: Codable {
        public var fits: [String: ScalingFits.Fit]
        /// N*(C) and D*(C) at a few compute budgets (from the Chinchilla fit).
        public var computeOptimal: [[String: Double]]
        /// a and b of N* ∝ C^a, D* ∝ C^b.
        public var exponents: [String: Double]
        /// Rows left out of the fits, and why.
        public var notes: [String] = []
        enum CodingKeys: String, CodingKey { case fits, computeOptimal = "compute_optimal", exponents, notes }
    }

    /// Sweep rows as (N, D, L): rows whose values are not finite and positive are left out, each
    /// named in `notes` with its line.
    public static func points(_ t: CSVTable, notes: inout [String]) throws -> (N: [Double], D: [Double], L: [Double]) {
        let n = try t.numbers("non_embedding_params"), d = try t.numbers("tokens"), l = try t.numbers("val_loss")
        var N: [Double] = [], D: [Double] = [], L: [Double] = []
        var dropped: [Int] = []
        for i in 0..<n.count {
            if let a = n[i], let b = d[i], let c = l[i], [a, b, c].allSatisfy({ $0.isFinite && $0 > 0 }) { N.append(a); D.append(b); L.append(c) }
            else { dropped.append(i + 2) }
        }
        if !dropped.isEmpty {
            notes.append("\(t.path): left out \(dropped.count) row(s) (line\(dropped.count > 1 ? "s" : "") \(dropped.prefix(8).map(String.init).joined(separator: ", "))\(dropped.count > 8 ? ", …" : "")) whose non_embedding_params, tokens or val_loss is missing, not finite or not positive")
        }
        return (N, D, L)
    }

    public static func run(sweep path: String, curves curvesPath: String?, bootstrap: Int = 100) throws -> Report {
        let t: CSVTable
        do { t = try CSVTable.read(path) } catch let e as CSVTable.ParseError { throw TLLMError(e.message, file: e.path, line: e.line) }
        var notes: [String] = []
        let (N, D, L) = try wrap { try points(t, notes: &notes) }
        guard N.count >= 3 else { throw TLLMError("needs at least 3 finished runs with finite positive losses, found \(N.count)", file: path) }
        var fits: [String: ScalingFits.Fit] = [:]
        // L(N) on the largest token budget; L(D) on the largest model.
        let dMax = D.max()!, nMax = N.max()!
        let sliceN = (0..<N.count).filter { D[$0] == dMax }
        if Set(sliceN.map { N[$0] }).count >= 3 {
            fits["L(N)"] = ScalingFits.powerLaw(x: sliceN.map { N[$0] }, y: sliceN.map { L[$0] }, law: "L(N) = E + A·N^-alpha (D = \(Int(dMax)))", bootstrap: bootstrap)
        }
        let sliceD = (0..<N.count).filter { N[$0] == nMax }
        if Set(sliceD.map { D[$0] }).count >= 3 {
            fits["L(D)"] = ScalingFits.powerLaw(x: sliceD.map { D[$0] }, y: sliceD.map { L[$0] }, law: "L(D) = E + B·D^-beta (N = \(Int(nMax)))", scale: "B", exponent: "beta", bootstrap: bootstrap)
        }
        // L(C) on the compute frontier of every evaluation point.
        if let cp = curvesPath, FileManager.default.fileExists(atPath: cp) {
            let c: CSVTable
            do { c = try CSVTable.read(cp) } catch let e as CSVTable.ParseError { throw TLLMError(e.message, file: e.path, line: e.line) }
            let f = try wrap { try c.numbers("flops") }, l = try wrap { try c.numbers("val_loss") }
            let pts = zip(f, l).compactMap { a, b -> (Double, Double)? in
                guard let a, let b, a.isFinite, b.isFinite, a > 0, b > 0 else { return nil }
                return (a, b)
            }
            if pts.count < f.count { notes.append("\(cp): left out \(f.count - pts.count) evaluation point(s) with a missing, non-finite or non-positive flops or val_loss") }
            let front = ScalingFits.frontier(compute: pts.map(\.0), loss: pts.map(\.1))
            if front.count >= 3 {
                fits["L(C)"] = ScalingFits.powerLaw(x: front.map(\.c), y: front.map(\.l), law: "L(C) = E + A_C·C^-gamma (frontier)", scale: "A_C", exponent: "gamma", bootstrap: bootstrap)
            }
        }
        var optimal: [[String: Double]] = []
        var exps: [String: Double] = [:]
        if Set(N).count >= 2 && Set(D).count >= 2 && N.count >= 5 {
            let ch = ScalingFits.chinchilla(N: N, D: D, L: L, bootstrap: bootstrap)
            fits["L(N,D)"] = ch
            let al = ch.parameters["alpha"]!, be = ch.parameters["beta"]!
            if al > 0 && be > 0 {
                exps = ["a (N* ∝ C^a)": be / (al + be), "b (D* ∝ C^b)": al / (al + be)]
                for c in [1e13, 1e14, 1e15, 1e16, 1e18] {
                    if let o = ScalingFits.computeOptimal(ch, compute: c) {
                        optimal.append(["flops": c, "N": o.N, "D": o.D, "tokens_per_parameter": o.D / o.N])
                    }
                }
            }
        }
        return Report(fits: fits, computeOptimal: optimal, exponents: exps, notes: notes)
    }

    static func wrap<T>(_ f: () throws -> T) throws -> T {
        do { return try f() } catch let e as CSVTable.ParseError { throw TLLMError(e.message, file: e.path, line: e.line) }
    }

    /// The report as a table.
    public static func text(_ r: Report) -> String {
        var s = r.notes.map { "note: \($0)\n" }.joined()
        for key in ["L(N)", "L(D)", "L(C)", "L(N,D)"] {
            guard let f = r.fits[key] else { continue }
            s += "\(f.law)   [\(f.points) points, loss \(String(format: "%.3g", f.loss))]\n"
            for (name, v) in f.parameters.sorted(by: { $0.key < $1.key }) {
                let ci = f.intervals[name].map { String(format: "  95%% CI [%.4g, %.4g]", $0[0], $0[1]) } ?? ""
                s += "    \(name.padding(toLength: 6, withPad: " ", startingAt: 0)) = \(String(format: "%.4g", v))\(ci)\n"
            }
            for w in f.warnings { s += "    note: \(w)\n" }
        }
        if r.fits["L(N,D)"] != nil && r.exponents.isEmpty {
            s += "compute-optimal allocation undefined: a fitted exponent is not positive (too few or too noisy runs)\n"
        }
        if !r.exponents.isEmpty {
            s += "compute-optimal (C = 6ND): " + r.exponents.sorted { $0.key < $1.key }.map { "\($0.key) = \(String(format: "%.3f", $0.value))" }.joined(separator: ", ") + "\n"
            for o in r.computeOptimal {
                s += String(format: "    C = %.0e FLOPs:  N* = %.3g  D* = %.3g  (%.1f tokens/parameter)\n", o["flops"]!, o["N"]!, o["D"]!, o["tokens_per_parameter"]!)
            }
        }
        return s
    }
}
