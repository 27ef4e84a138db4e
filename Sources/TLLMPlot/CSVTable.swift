import Foundation

/// A CSV file with a header row: columns by name, cells as strings, numbers on demand.
/// Errors name the file and line.
public struct CSVTable {
    public var path: String
    public var columns: [String]
    public var rows: [[String]]

    public init(path: String = "", columns: [String], rows: [[String]]) {
        self.path = path; self.columns = columns; self.rows = rows
    }

    /// An error at a line of the file.
    public struct ParseError: Error, CustomStringConvertible {
        public var path: String
        public var line: Int?
        public var message: String
        public var description: String { line.map { "\(path):\($0): \(message)" } ?? "\(path): \(message)" }
    }

    /// Reads a CSV file (commas, optional double quotes, a header row).
    public static func read(_ path: String) throws -> CSVTable {
        guard let data = FileManager.default.contents(atPath: path) else { throw ParseError(path: path, line: nil, message: "cannot read file") }
        guard let text = String(data: data, encoding: .utf8) else { throw ParseError(path: path, line: nil, message: "not valid UTF-8") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> CSVTable {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        while let l = lines.last, l.isEmpty { lines.removeLast() }
        guard let header = lines.first, !header.isEmpty else { throw ParseError(path: path, line: 1, message: "empty file: a header row is required") }
        let cols = try split(header, path: path, line: 1)
        if let dup = cols.first(where: { c in cols.filter { $0 == c }.count > 1 }) {
            throw ParseError(path: path, line: 1, message: "duplicate column '\(dup)'")
        }
        var rows: [[String]] = []
        for (k, l) in lines.enumerated().dropFirst() {
            if l.isEmpty { continue }
            let cells = try split(l, path: path, line: k + 1)
            guard cells.count == cols.count else {
                throw ParseError(path: path, line: k + 1, message: "\(cells.count) cells where the header has \(cols.count)")
            }
            rows.append(cells)
        }
        return CSVTable(path: path, columns: cols, rows: rows)
    }

    static func split(_ line: String, path: String, line n: Int) throws -> [String] {
        var out: [String] = [], cur = "", quoted = false
        var it = Array(line)
        var i = 0
        while i < it.count {
            let c = it[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < it.count && it[i + 1] == "\"" { cur.append("\""); i += 1 } else { quoted = false }
                } else { cur.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { out.append(cur); cur = "" } else { cur.append(c) }
            i += 1
        }
        if quoted { throw ParseError(path: path, line: n, message: "unterminated quoted cell") }
        out.append(cur)
        it.removeAll()
        return out.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The index of a column, or an error listing the columns there are.
    public func index(of column: String) throws -> Int {
        guard let i = columns.firstIndex(of: column) else {
            throw ParseError(path: path, line: 1, message: "no column '\(column)' (columns: \(columns.joined(separator: ", ")))")
        }
        return i
    }

    /// A column as numbers; empty cells are nil, anything else unparsable is an error with its line.
    public func numbers(_ column: String) throws -> [Double?] {
        let c = try index(of: column)
        return try rows.enumerated().map { k, r in
            let s = r[c]
            if s.isEmpty { return nil }
            guard let v = Double(s) else { throw ParseError(path: path, line: k + 2, message: "column '\(column)': '\(s)' is not a number") }
            return v
        }
    }

    /// A column as strings.
    public func strings(_ column: String) throws -> [String] {
        let c = try index(of: column)
        return rows.map { $0[c] }
    }

    /// CSV text (quoting cells with commas or quotes).
    public var text: String {
        func q(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        return ([columns] + rows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
