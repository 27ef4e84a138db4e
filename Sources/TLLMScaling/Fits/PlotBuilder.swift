import Foundation
import TLLMCore
import TLLMPlot
import TLLMModels

/// Builds charts from CSV files, with fitted curves (`tllm plot`).
public enum PlotBuilder {
    public static func chart(csv path: String, x xc: String, y yc: String, group: String?, logX: Bool, logY: Bool,
                             fit: String?, title: String?, filters: [(String, String)] = []) throws -> Chart {
        var t: CSVTable
        do { t = try CSVTable.read(path) } catch let e as CSVTable.ParseError { throw TLLMError(e.message, file: e.path, line: e.line) }
        for (col, value) in filters {
            let i: Int
            do { i = try t.index(of: col) } catch let e as CSVTable.ParseError { throw TLLMError(e.message, file: e.path, line: e.line) }
            t.rows = t.rows.filter { $0[i] == value }
        }
        let xs: [Double?], ys: [Double?], gs: [String]
        do {
            xs = try t.numbers(xc); ys = try t.numbers(yc)
            gs = try group.map { try t.strings($0) } ?? Array(repeating: "", count: t.rows.count)
        } catch let e as CSVTable.ParseError { throw TLLMError(e.message, file: e.path, line: e.line) }
        var order: [String] = []
        var bySeries: [String: [(x: Double, y: Double)]] = [:]
        for i in 0..<t.rows.count {
            guard let x = xs[i], let y = ys[i] else { continue }
            if bySeries[gs[i]] == nil { order.append(gs[i]) }
            bySeries[gs[i], default: []].append((x, y))
        }
        guard !order.isEmpty else { throw TLLMError("no rows with numbers in both \(xc) and \(yc)", file: path) }
        if let g = group, order.allSatisfy({ Double($0) != nil }) { order.sort { Double($0)! < Double($1)! }; _ = g }
        var chart = Chart(title: title ?? "\(yc) vs \(xc)", xLabel: xc, yLabel: yc, logX: logX, logY: logY)
        func label(_ g: String) -> String {
            guard let group else { return yc }
            if let v = Double(g), v >= 1000 { return "\(group) = \(formatCount(Int(v)))" }
            return "\(group) = \(g)"
        }
        for g in order { chart.series.append(Chart.Series(name: label(g), points: bySeries[g]!, markers: true, line: fit == nil)) }
        switch fit {
        case "power":
            for (k, g) in order.enumerated() {
                let pts = bySeries[g]!.filter { $0.x > 0 && $0.y > 0 }
                guard Set(pts.map(\.x)).count >= 3 else { continue }
                let f = ScalingFits.powerLaw(x: pts.map(\.x), y: pts.map(\.y), bootstrap: 0)
                let E = f.parameters["E"]!, A = f.parameters["A"]!, a = f.parameters["alpha"]!
                chart.series.append(Chart.Series(name: String(format: "fit %@: %.3g + %.3g·x^-%.3f", label(g), E, A, a),
                                                 points: curve(pts.map(\.x)) { E + A * Foundation.pow($0, -a) }, markers: false, line: true, dashed: true, color: k))
            }
        case "chinchilla":
            guard let group else { throw TLLMError("--fit chinchilla needs --group (the token column of a sweep)") }
            var N: [Double] = [], D: [Double] = [], L: [Double] = []
            for g in order { guard let d = Double(g) else { continue }; for p in bySeries[g]! { N.append(p.x); D.append(d); L.append(p.y) } }
            guard N.count >= 5 else { throw TLLMError("--fit chinchilla needs at least 5 points with numeric \(group)", file: path) }
            let f = ScalingFits.chinchilla(N: N, D: D, L: L, bootstrap: 0)
            let p = f.parameters
            for (k, g) in order.enumerated() {
                guard let d = Double(g) else { continue }
                chart.series.append(Chart.Series(name: String(format: "L(N, %@) fit: α=%.3f β=%.3f", formatCount(Int(d)), p["alpha"]!, p["beta"]!),
                                                 points: curve(bySeries[g]!.map(\.x)) { n in p["E"]! + p["A"]! / Foundation.pow(n, p["alpha"]!) + p["B"]! / Foundation.pow(d, p["beta"]!) },
                                                 markers: false, line: true, dashed: true, color: k))
            }
        default: break
        }
        return chart
    }

    static func curve(_ xs: [Double], _ f: (Double) -> Double) -> [(x: Double, y: Double)] {
        let lo = xs.min()!, hi = xs.max()!
        return (0...60).map { k in
            let x = lo > 0 ? Foundation.exp(Foundation.log(lo) + (Foundation.log(hi) - Foundation.log(lo)) * Double(k) / 60) : lo + (hi - lo) * Double(k) / 60
            return (x, f(x))
        }
    }
}
