import Foundation

/// A matrix of values in [0, 1] drawn as an SVG grid of shaded cells — an attention pattern
/// (rows: query positions, columns: key positions), with the tokens as labels.
public struct Heatmap {
    public var title: String
    public var rowLabels: [String]
    public var columnLabels: [String]
    /// `[rows][columns]`, each in [0, 1] (clamped).
    public var values: [[Double]]

    public init(title: String, rowLabels: [String], columnLabels: [String], values: [[Double]]) {
        self.title = title; self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.values = values
    }

    /// The SVG document: white (0) to dark blue (1), labels left and on top, a scale below.
    public func svg(cell: Double = 14) -> String {
        let rows = values.count, cols = values.first?.count ?? 0
        let left = 8 + 7 * Double(rowLabels.map(\.count).max() ?? 0), top = 40 + 7 * Double(columnLabels.map(\.count).max() ?? 0)
        let width = left + cell * Double(cols) + 20, height = top + cell * Double(rows) + 40
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="10">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="16" font-size="13">\(escape(title))</text>

        """
        for (i, row) in values.enumerated() {
            for (j, v) in row.enumerated() {
                let t = min(1, max(0, v.isFinite ? v : 0))
                let (r, g, b) = (Int(255 - 247 * t), Int(255 - 207 * t), Int(255 - 148 * t))
                s += "<rect x=\(f(left + cell * Double(j))) y=\(f(top + cell * Double(i))) width=\(f(cell)) height=\(f(cell)) fill=\"rgb(\(r),\(g),\(b))\"><title>\(i)→\(j): \(String(format: "%.3f", v))</title></rect>\n"
            }
        }
        for (i, l) in rowLabels.enumerated() {
            s += "<text x=\(f(left - 4)) y=\(f(top + cell * (Double(i) + 0.75))) text-anchor=\"end\">\(escape(l))</text>\n"
        }
        for (j, l) in columnLabels.enumerated() {
            let x = left + cell * (Double(j) + 0.7), y = top - 4
            s += "<text x=\(f(x)) y=\(f(y)) transform=\"rotate(-90 \(String(format: "%.1f %.1f", x, y)))\">\(escape(l))</text>\n"
        }
        s += "<text x=\(f(left)) y=\(f(height - 14))>rows: query position, columns: key position; darker = more attention (0 to 1)</text>\n"
        return s + "</svg>\n"
    }

    private func f(_ x: Double) -> String { "\"\(String(format: "%.1f", x))\"" }
    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
