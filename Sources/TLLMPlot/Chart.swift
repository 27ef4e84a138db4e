import Foundation

/// A 2-D chart: series of points (markers and/or lines), linear or log axes, an SVG rendering and
/// a terminal preview.
public struct Chart {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Draw markers (data) or a smooth line only (fitted curves).
        public var markers: Bool
        public var line: Bool
        public var dashed: Bool
        /// Palette index; `nil` = the series' own position. A fitted curve shares its data's colour.
        public var color: Int?
        public init(name: String, points: [(x: Double, y: Double)], markers: Bool = true, line: Bool = true, dashed: Bool = false, color: Int? = nil) {
            self.name = name; self.points = points; self.markers = markers; self.line = line; self.dashed = dashed; self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logX: Bool
    public var logY: Bool
    public var series: [Series]
    /// Width of the plot area plus its margins; the legend is added on the right (`width`).
    public var plotWidth: Double = 520
    public var height: Double = 480
    /// The whole SVG's width: the plot, then a legend wide enough for its longest label.
    public var width: Double {
        let longest = series.map { $0.name.count }.max() ?? 0
        return plotWidth + max(200, 50 + 6.8 * Double(longest))
    }

    public init(title: String, xLabel: String, yLabel: String, logX: Bool = false, logY: Bool = false, series: [Series] = []) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.logX = logX; self.logY = logY; self.series = series
    }

    // MARK: - Layout

    /// Plot area in SVG coordinates.
    public var plotArea: (left: Double, top: Double, right: Double, bottom: Double) { (80, 40, plotWidth, height - 60) }

    /// Data range (after log transform), padded.
    public func range() -> (x0: Double, x1: Double, y0: Double, y1: Double) {
        let pts = series.flatMap(\.points).filter { (!logX || $0.x > 0) && (!logY || $0.y > 0) && $0.x.isFinite && $0.y.isFinite }
        guard !pts.isEmpty else { return (0, 1, 0, 1) }
        let xs = pts.map { logX ? log10($0.x) : $0.x }, ys = pts.map { logY ? log10($0.y) : $0.y }
        var (x0, x1, y0, y1) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let px = (x1 - x0) * 0.04, py = (y1 - y0) * 0.06
        return (x0 - px, x1 + px, y0 - py, y1 + py)
    }

    /// SVG coordinates of a data point.
    public func position(x: Double, y: Double) -> (Double, Double) {
        let r = range(), a = plotArea
        let tx = logX ? log10(x) : x, ty = logY ? log10(y) : y
        let px = a.left + (tx - r.x0) / (r.x1 - r.x0) * (a.right - a.left)
        let py = a.bottom - (ty - r.y0) / (r.y1 - r.y0) * (a.bottom - a.top)
        return (px, py)
    }

    /// Tick values (in data units) for an axis.
    static func ticks(_ lo: Double, _ hi: Double, log: Bool) -> [(value: Double, label: String, major: Bool)] {
        if log {
            var out: [(Double, String, Bool)] = []
            let d0 = Int(Foundation.floor(lo)), d1 = Int(Foundation.ceil(hi))
            let span = d1 - d0
            for d in d0...d1 {
                let v = Foundation.pow(10, Double(d))
                if Double(d) >= lo - 1e-9 && Double(d) <= hi + 1e-9 { out.append((v, formatPower(d), true)) }
                if span <= 3 {
                    for m in [2.0, 5.0] {
                        let lv = Foundation.log10(m * v)
                        if lv >= lo && lv <= hi { out.append((m * v, formatNumber(m * v), false)) }
                    }
                }
            }
            if out.filter(\.2).count < 2 {
                // Less than a decade: linear-looking ticks inside it.
                for t in ticks(Foundation.pow(10, lo), Foundation.pow(10, hi), log: false) where !out.contains(where: { abs($0.0 - t.value) < 1e-12 }) {
                    out.append((t.value, t.label, true))
                }
            }
            return out.sorted { $0.0 < $1.0 }
        }
        let raw = (hi - lo) / 6
        let mag = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].map { $0 * mag }.first { $0 >= raw } ?? raw
        var v = Foundation.ceil(lo / step) * step
        var out: [(Double, String, Bool)] = []
        while v <= hi + step * 1e-9 { out.append((v, formatNumber(v), true)); v += step }
        return out
    }

    static func formatPower(_ d: Int) -> String {
        let sup: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
        return "10" + String(String(d).map { sup[$0] ?? $0 })
    }

    static func formatNumber(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e4 || a < 1e-3 { return String(format: "%.2g", v) }
        return String(format: "%g", (v * 1e6).rounded() / 1e6)
    }

    /// Tableau 10, then its light variants: 20 distinct colours before any repeats.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
                          "#aec7e8", "#ff9896", "#98df8a", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#c7c7c7", "#dbdb8d"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    // MARK: - SVG

    /// The chart as an SVG document (valid XML).
    public func svg() -> String {
        let r = range(), a = plotArea
        let svgHeight = max(height, a.top + 24 + Double(series.count) * 18)  // room for a long legend
        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(svgHeight))" viewBox="0 0 \(Int(width)) \(Int(svgHeight))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(svgHeight))" fill="white"/>
        <text x="\(fmt((a.left + a.right) / 2))" y="22" text-anchor="middle" font-size="15">\(Chart.escape(title))</text>

        """
        // Grid and ticks.
        for t in Chart.ticks(r.x0, r.x1, log: logX) {
            let (px, _) = position(x: t.value, y: logY ? Foundation.pow(10, r.y0) : r.y0)
            guard px >= a.left - 0.5 && px <= a.right + 0.5 else { continue }
            s += "<line class=\"grid\" x1=\"\(fmt(px))\" y1=\"\(fmt(a.top))\" x2=\"\(fmt(px))\" y2=\"\(fmt(a.bottom))\" stroke=\"#e0e0e0\" stroke-width=\"\(t.major ? 1 : 0.5)\"/>\n"
            s += "<text x=\"\(fmt(px))\" y=\"\(fmt(a.bottom + 18))\" text-anchor=\"middle\">\(Chart.escape(t.label))</text>\n"
        }
        for t in Chart.ticks(r.y0, r.y1, log: logY) {
            let (_, py) = position(x: logX ? Foundation.pow(10, r.x0) : r.x0, y: t.value)
            guard py >= a.top - 0.5 && py <= a.bottom + 0.5 else { continue }
            s += "<line class=\"grid\" x1=\"\(fmt(a.left))\" y1=\"\(fmt(py))\" x2=\"\(fmt(a.right))\" y2=\"\(fmt(py))\" stroke=\"#e0e0e0\" stroke-width=\"\(t.major ? 1 : 0.5)\"/>\n"
            s += "<text x=\"\(fmt(a.left - 6))\" y=\"\(fmt(py + 4))\" text-anchor=\"end\">\(Chart.escape(t.label))</text>\n"
        }
        s += "<rect x=\"\(fmt(a.left))\" y=\"\(fmt(a.top))\" width=\"\(fmt(a.right - a.left))\" height=\"\(fmt(a.bottom - a.top))\" fill=\"none\" stroke=\"black\"/>\n"
        s += "<text x=\"\(fmt((a.left + a.right) / 2))\" y=\"\(fmt(height - 18))\" text-anchor=\"middle\" font-size=\"13\">\(Chart.escape(xLabel))\(logX ? " (log)" : "")</text>\n"
        s += "<text x=\"18\" y=\"\(fmt((a.top + a.bottom) / 2))\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 \(fmt((a.top + a.bottom) / 2)))\">\(Chart.escape(yLabel))\(logY ? " (log)" : "")</text>\n"
        // Series.
        for (k, ser) in series.enumerated() {
            let color = Chart.palette[(ser.color ?? k) % Chart.palette.count]
            let pts = ser.points.filter { (!logX || $0.x > 0) && (!logY || $0.y > 0) && $0.x.isFinite && $0.y.isFinite }
                .sorted { $0.x < $1.x }.map { position(x: $0.x, y: $0.y) }
            if ser.line && pts.count >= 2 {
                let d = pts.enumerated().map { ($0.offset == 0 ? "M" : "L") + "\(fmt($0.element.0)) \(fmt($0.element.1))" }.joined(separator: " ")
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\"\(ser.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            }
            if ser.markers {
                for p in pts { s += "<circle class=\"point\" cx=\"\(fmt(p.0))\" cy=\"\(fmt(p.1))\" r=\"3.2\" fill=\"\(color)\"/>\n" }
            }
            // Legend.
            let ly = a.top + 8 + Double(k) * 18, lx = a.right + 14
            if ser.line { s += "<line x1=\"\(fmt(lx))\" y1=\"\(fmt(ly))\" x2=\"\(fmt(lx + 22))\" y2=\"\(fmt(ly))\" stroke=\"\(color)\" stroke-width=\"1.6\"\(ser.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n" }
            if ser.markers { s += "<circle cx=\"\(fmt(lx + 11))\" cy=\"\(fmt(ly))\" r=\"3.2\" fill=\"\(color)\"/>\n" }
            s += "<text x=\"\(fmt(lx + 28))\" y=\"\(fmt(ly + 4))\">\(Chart.escape(ser.name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    func fmt(_ v: Double) -> String { String(format: "%.2f", v) }

    // MARK: - Terminal preview

    /// A character-cell preview: each series gets a letter, axes labelled with their ranges.
    public func terminalPreview(columns: Int = 64, rows: Int = 18) -> String {
        let r = range()
        var grid = [[Character]](repeating: [Character](repeating: " ", count: columns), count: rows)
        let marks = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for (k, ser) in series.enumerated() {
            for p in ser.points where (!logX || p.x > 0) && (!logY || p.y > 0) && p.x.isFinite && p.y.isFinite {
                let tx = logX ? log10(p.x) : p.x, ty = logY ? log10(p.y) : p.y
                let c = Int(((tx - r.x0) / (r.x1 - r.x0) * Double(columns - 1)).rounded())
                let rr = rows - 1 - Int(((ty - r.y0) / (r.y1 - r.y0) * Double(rows - 1)).rounded())
                guard c >= 0 && c < columns && rr >= 0 && rr < rows else { continue }
                grid[rr][c] = ser.markers ? marks[k % marks.count] : (grid[rr][c] == " " ? "·" : grid[rr][c])
            }
        }
        func label(_ v: Double, _ log: Bool) -> String { Chart.formatNumber(log ? Foundation.pow(10, v) : v) }
        var s = "\(title)\n"
        let yHi = label(r.y1, logY), yLo = label(r.y0, logY)
        let pad = max(yHi.count, yLo.count)
        for (i, row) in grid.enumerated() {
            let l = i == 0 ? yHi : (i == rows - 1 ? yLo : "")
            s += String(repeating: " ", count: pad - l.count) + l + " |" + String(row) + "\n"
        }
        s += String(repeating: " ", count: pad) + " +" + String(repeating: "-", count: columns) + "\n"
        let xl = label(r.x0, logX), xh = label(r.x1, logX)
        s += String(repeating: " ", count: pad + 2) + xl + String(repeating: " ", count: max(1, columns - xl.count - xh.count)) + xh + "\n"
        s += String(repeating: " ", count: pad + 2) + "\(xLabel)\(logX ? " (log)" : "") vs \(yLabel)\(logY ? " (log)" : "")\n"
        for (k, ser) in series.enumerated() { s += "  \(ser.markers ? String(marks[k % marks.count]) : "·") \(ser.name)\n" }
        return s
    }
}
