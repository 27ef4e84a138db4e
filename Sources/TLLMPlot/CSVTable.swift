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

    /// Parses CSV as RFC 4180 has it: records end with LF or CRLF (what Python's `csv` module and
    /// spreadsheets write), quoted cells may hold commas, quotes (`""`) and line breaks. Line
    /// numbers in errors count physical lines; a row's line is the one it starts on.
    public static func parse(_ text: String, path: String) throws -> CSVTable {
        let records = try records(Array(text.utf8), path: path)
        guard let (header, _) = records.first, !(header.count == 1 && header[0].isEmpty) else {
            throw ParseError(path: path, line: 1, message: "empty file: a header row is required")
        }
        let cols = header.map { $0.trimmingCharacters(in: .whitespaces) }
        if let dup = cols.first(where: { c in cols.filter { $0 == c }.count > 1 }) {
            throw ParseError(path: path, line: 1, message: "duplicate column '\(dup)'")
        }
        var rows: [[String]] = []
        for (cells, line) in records.dropFirst() {
            if cells.count == 1 && cells[0].isEmpty { continue }  // blank line
            guard cells.count == cols.count else {
                throw ParseError(path: path, line: line, message: "\(cells.count) cells where the header has \(cols.count)")
            }
            rows.append(cells.map { $0.trimmingCharacters(in: .whitespaces) })
        }
        return CSVTable(path: path, columns: cols, rows: rows)
    }

    /// The records of a CSV text with the line each starts on.
    static func records(_ b: [UInt8], path: String) throws -> [([String], Int)] {
        var out: [([String], Int)] = []
        var record: [String] = [], cell: [UInt8] = []
        var line = 1, recordLine = 1, quoteLine = 0
        var quoted = false, afterQuote = false
        func endCell() { record.append(String(decoding: cell, as: UTF8.self)); cell = [] }
        func endRecord() { endCell(); out.append((record, recordLine)); record = []; afterQuote = false }
        var i = 0
        while i < b.count {
            let c = b[i]
            if quoted {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < b.count && b[i + 1] == UInt8(ascii: "\"") { cell.append(c); i += 1 } else { quoted = false; afterQuote = true }
                } else {
                    if c == 0x0A { line += 1 }
                    cell.append(c)
                }
            } else if c == UInt8(ascii: ",") {
                endCell(); afterQuote = false
            } else if c == 0x0A || c == 0x0D {
                if c == 0x0D && i + 1 < b.count && b[i + 1] == 0x0A { i += 1 }
                endRecord()
                line += 1; recordLine = line
            } else if afterQuote {
                if c != UInt8(ascii: " ") && c != 0x09 {
                    throw ParseError(path: path, line: line, message: "unexpected character after a closing quote (a quote inside a quoted cell is written \"\")")
                }
            } else if c == UInt8(ascii: "\"") && cell.allSatisfy({ $0 == UInt8(ascii: " ") }) {
                quoted = true; quoteLine = line; cell = []
            } else {
                cell.append(c)
            }
            i += 1
        }
        if quoted { throw ParseError(path: path, line: quoteLine, message: "unterminated quoted cell (opened here, never closed)") }
        if !(record.isEmpty && cell.isEmpty) || afterQuote { endRecord() }
        return out
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
        func q(_ s: String) -> String {
            s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([columns] + rows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
