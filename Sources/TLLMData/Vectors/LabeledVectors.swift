import Foundation
import TLLMCore

/// Numeric samples, one per row, with optional integer labels: the input of the dictionary and
/// contrastive-learning code (`[samples, features]`, row-major, as scikit-learn has them).
public struct LabeledVectors: Sendable {
    /// `[count, features]`, row-major.
    public var values: [Float]
    public var features: Int
    /// One label per row, or empty when the data has none.
    public var labels: [Int]

    public var count: Int { features == 0 ? 0 : values.count / features }

    public init(values: [Float], features: Int, labels: [Int] = []) {
        precondition(features > 0 && values.count % features == 0, "LabeledVectors: \(values.count) values, \(features) features")
        precondition(labels.isEmpty || labels.count == values.count / features, "LabeledVectors: label count")
        self.values = values; self.features = features; self.labels = labels
    }

    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * features)..<((i + 1) * features)] }

    /// The rows at `indices`, labels kept.
    public func subset(_ indices: [Int]) -> LabeledVectors {
        var v: [Float] = []; v.reserveCapacity(indices.count * features)
        for i in indices { v.append(contentsOf: row(i)) }
        return LabeledVectors(values: v, features: features, labels: labels.isEmpty ? [] : indices.map { labels[$0] })
    }

    /// The rows whose label satisfies `keep`.
    public func filter(labels keep: (Int) -> Bool) -> LabeledVectors {
        subset(labels.indices.filter { keep(labels[$0]) })
    }

    /// Every value multiplied by `factor`.
    public func scaled(by factor: Float) -> LabeledVectors {
        LabeledVectors(values: values.map { $0 * factor }, features: features, labels: labels)
    }

    // MARK: - CSV

    /// Where a CSV keeps its label.
    public enum LabelColumn: Sendable { case none, first }

    /// Reads a numeric CSV: comma-separated numbers, one sample per line, an optional header
    /// line (skipped when its first cell is not a number), the label first when `label` is
    /// `.first`. Every row must have the same width and only finite numbers; labels must be
    /// non-negative integers. Errors name the file, line and column.
    public static func readCSV(_ path: String, label: LabelColumn = .first, maxBytes: Int = 1 << 31) throws -> LabeledVectors {
        let url = URL(fileURLWithPath: path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size else { throw TLLMError("cannot read file (does it exist?)", file: path) }
        guard size <= maxBytes else { throw TLLMError("file is \(size) bytes; the limit is \(maxBytes)", file: path) }
        let data = try Data(contentsOf: url)
        return try parseCSV(data, path: path, label: label)
    }

    static func parseCSV(_ data: Data, path: String, label: LabelColumn) throws -> LabeledVectors {
        var values: [Float] = [], labels: [Int] = []
        var width: Int? = nil
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (n, raw) in lines.enumerated() {
            var line = raw
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let cells = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                .map { cell in                                                  // spaces and tabs trimmed as bytes
                    let blank = { (b: UInt8) in b == 0x20 || b == 0x09 }
                    let start = cell.firstIndex { !blank($0) } ?? cell.endIndex
                    let end = cell.lastIndex { !blank($0) }.map { $0 + 1 } ?? start
                    return String(decoding: cell[start..<max(start, end)], as: UTF8.self)
                }
            if n == 0, Float(cells[0]) == nil { continue }                      // a header line
            guard cells.count == (width ?? cells.count) else {
                throw TLLMError("\(cells.count) cells where the first row has \(width!)", file: path, line: n + 1)
            }
            width = cells.count
            guard label == .none || cells.count >= 2 else {
                throw TLLMError("a label and at least one feature are needed per row", file: path, line: n + 1)
            }
            for (c, cell) in cells.enumerated() {
                guard let v = Float(cell), v.isFinite else {
                    throw TLLMError("column \(c + 1): '\(cell.prefix(20))' is not a finite number", file: path, line: n + 1)
                }
                if label == .first && c == 0 {
                    guard v >= 0, v == v.rounded(), v < 1e6 else {
                        throw TLLMError("column 1: label '\(cell)' is not a non-negative integer", file: path, line: n + 1)
                    }
                    labels.append(Int(v))
                } else {
                    values.append(v)
                }
            }
        }
        guard let w = width else { throw TLLMError("no data rows", file: path) }
        return LabeledVectors(values: values, features: label == .first ? w - 1 : w, labels: labels)
    }
}

// MARK: - The bundled digits

extension LabeledVectors {
    /// The 1,797 8×8 handwritten digits bundled in `corpora/digits.csv` (label, then 64 pixels
    /// 0–16), scaled to [0, 1] as scikit-learn comparisons do (÷16).
    public static func digits() throws -> LabeledVectors {
        guard let url = ResourceLocator.find("corpora/digits.csv") else {
            throw TLLMError("corpora/digits.csv not found (run from the tllm checkout or set TLLM_HOME)")
        }
        return try readCSV(url.path, label: .first).scaled(by: 1.0 / 16)
    }
}
