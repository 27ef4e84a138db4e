import Foundation

/// A JSON value from ``JSONParser``: objects keep their key order.
public indirect enum JSONValue: Equatable, CustomStringConvertible {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let m) = self { return m.first { $0.0 == key }?.1 }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var number: Double? { if case .number(let d) = self { return d }; return nil }
    public var int: Int? {
        if case .number(let d) = self, d.rounded() == d, abs(d) < 9e15 { return Int(d) }
        return nil
    }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var members: [(String, JSONValue)]? { if case .object(let m) = self { return m }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// A short rendering for messages (`32.5`, `"x"`, `[…]`).
    public var compactDescription: String {
        switch self {
        case .string(let s): return JSONValue.quote(s)
        case .number(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// The value as a Foundation object (for JSONSerialization).
    public var foundation: Any {
        switch self {
        case .object(let m):
            var d: [String: Any] = [:]
            for (k, v) in m { d[k] = v.foundation }
            return d
        case .array(let a): return a.map(\.foundation)
        case .string(let s): return s
        case .number(let x): return x
        case .bool(let b): return b
        case .null: return NSNull()
        }
    }

    /// Compact JSON text.
    public var description: String {
        switch self {
        case .object(let m):
            return "{" + m.map { "\(JSONValue.string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case .string(let s): return JSONValue.quote(s)
        case .number(let x):
            if x.rounded() == x && abs(x) < 1e15 { return String(Int(x)) }
            return "\(x)"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// A strict JSON parser whose errors say where: line, column and byte offset. Duplicate object
/// keys are an error when `rejectDuplicateKeys` is set (vocabularies, task specs).
public struct JSONParser {
    let bytes: [UInt8]
    var i = 0
    let path: String
    let lineOffset: Int
    public var rejectDuplicateKeys: Bool

    /// Parses one JSON document. `path` and `lineOffset` (for one line of a JSONL file) go into errors.
    public static func parse(_ data: [UInt8], path: String, lineOffset: Int = 0, rejectDuplicateKeys: Bool = false) throws -> JSONValue {
        var p = JSONParser(bytes: data, path: path, lineOffset: lineOffset, rejectDuplicateKeys: rejectDuplicateKeys)
        p.skipSpace()
        guard p.i < p.bytes.count else { throw p.error("empty input, expected a JSON value") }
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i < p.bytes.count { throw p.error("unexpected text after the JSON value") }
        return v
    }

    public static func parse(_ text: String, path: String, lineOffset: Int = 0, rejectDuplicateKeys: Bool = false) throws -> JSONValue {
        try parse(Array(text.utf8), path: path, lineOffset: lineOffset, rejectDuplicateKeys: rejectDuplicateKeys)
    }

    init(bytes: [UInt8], path: String, lineOffset: Int, rejectDuplicateKeys: Bool) {
        self.bytes = bytes; self.path = path; self.lineOffset = lineOffset; self.rejectDuplicateKeys = rejectDuplicateKeys
    }

    func error(_ message: String, at pos: Int? = nil) -> TLLMError {
        let at = min(pos ?? i, bytes.count)
        var line = 1, col = 1
        var k = 0
        while k < at { if bytes[k] == 0x0A { line += 1; col = 1 } else { col += 1 }; k += 1 }
        return TLLMError("\(message) (column \(col), byte \(at))", file: path, line: line + lineOffset)
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw error("nesting too deep") }
        skipSpace()
        guard i < bytes.count else { throw error("unexpected end of input (truncated?)") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= bytes.count, Array(bytes[i..<(i + u.count)]) == u else {
            throw error("invalid literal, expected \(s)")
        }
        i += u.count
    }

    mutating func object(depth: Int) throws -> JSONValue {
        i += 1
        var members: [(String, JSONValue)] = []
        var seen = Set<String>()
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of input inside an object (truncated?)") }
            guard bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyPos = i
            let key = try string()
            if rejectDuplicateKeys && !seen.insert(key).inserted {
                throw error("duplicate key \(JSONValue.quote(key))", at: keyPos)
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            i += 1
            let v = try value(depth: depth + 1)
            members.append((key, v))
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of input inside an object (truncated?)") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw error("expected ',' or '}' in object")
        }
    }

    mutating func array(depth: Int) throws -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of input inside an array (truncated?)") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw error("expected ',' or ']' in array")
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func string() throws -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw error("unterminated string (truncated?)", at: start) }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw error("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var cp = try hex4()
                if cp >= 0xD800 && cp < 0xDC00 {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw error("lone high surrogate in \\u escape")
                    }
                    i += 2
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo < 0xE000 else { throw error("invalid low surrogate in \\u escape") }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                } else if cp >= 0xDC00 && cp < 0xE000 {
                    throw error("lone low surrogate in \\u escape")
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(cp)!).utf8))
            default: throw error("invalid escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8", at: start) }
        return s
    }

    mutating func number() throws -> Double {
        let start = i
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1; digits += 1 }
        guard digits > 0 else { i = start; throw error("unexpected character '\(printable(bytes[start]))', expected a JSON value") }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            var f = 0
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1; f += 1 }
            guard f > 0 else { throw error("digits expected after '.'") }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            var e = 0
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1; e += 1 }
            guard e > 0 else { throw error("digits expected in exponent") }
        }
        guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw error("invalid number", at: start) }
        return d
    }

    func printable(_ b: UInt8) -> String { b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : String(format: "0x%02x", b) }
}

extension JSONParser {
    /// The line where `"key"` is first written in `data` (1 if nowhere): for messages about a
    /// field of a small file.
    public static func line(ofKey key: String, in data: [UInt8]) -> Int {
        let needle = Array("\"\(key)\"".utf8)
        guard needle.count <= data.count else { return 1 }
        var newlines = 0
        for i in 0...(data.count - needle.count) {
            if data[i] == 0x0A { newlines += 1 }
            if data[i] == needle[0] && data[i...].starts(with: needle) { return newlines + 1 }
        }
        return 1
    }

    /// Checks the JSON types of an object's fields before a decoder sees them, so that a wrong
    /// value is reported as `file:line: field must be …, got …` rather than a decoder's error.
    public static func checkTypes(_ object: JSONValue, prefix: String, integers: [String] = [], numbers: [String] = [],
                                  booleans: [String] = [], strings: [String] = [], data: [UInt8], path: String) throws {
        func fail(_ key: String, _ what: String, _ v: JSONValue) -> TLLMError {
            TLLMError("\(prefix)\(key) must be \(what), got \(v.compactDescription)", file: path, line: line(ofKey: key, in: data))
        }
        for k in integers { if let v = object[k], !v.isNull, v.int == nil { throw fail(k, "an integer", v) } }
        for k in numbers { if let v = object[k], !v.isNull, v.number == nil { throw fail(k, "a number", v) } }
        for k in booleans { if let v = object[k], !v.isNull, v.bool == nil { throw fail(k, "true or false", v) } }
        for k in strings { if let v = object[k], !v.isNull, v.string == nil { throw fail(k, "a string", v) } }
    }
}
