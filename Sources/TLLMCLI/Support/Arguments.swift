import Foundation
import TLLMCore

/// One option of a command: `--name VALUE` (or a flag with no value).
struct OptionSpec {
    var name: String
    var value: String?      // placeholder for the value; nil for a flag
    var help: String
    var defaultValue: String? = nil
}

/// What a command accepts, for parsing and `--help`.
struct CommandSpec {
    var name: String                 // e.g. "tokenizer train"
    var summary: String
    var usage: String                // after "tllm <name> "
    var options: [OptionSpec]
    var discussion: String = ""
    /// Commands that take no positional arguments reject them.
    var allowsPositionals = true

    var helpText: String {
        var s = "tllm \(name) — \(summary)\n\nUsage: tllm \(name) \(usage)\n"
        let width = max(8, min(34, options.map { $0.name.count + ($0.value.map { $0.count + 1 } ?? 0) }.max() ?? 0))
        if !options.isEmpty {
            s += "\nOptions:\n"
            for o in options {
                let left = o.name + (o.value.map { " \($0)" } ?? "")
                let pad = String(repeating: " ", count: max(1, width - left.count + 2))
                s += "  \(left)\(pad)\(o.help)\(o.defaultValue.map { " (default: \($0))" } ?? "")\n"
            }
        }
        s += "  --help\(String(repeating: " ", count: max(1, width - 4)))show this help\n"
        if !discussion.isEmpty { s += "\n\(discussion)\n" }
        return s
    }
}

/// Parsed arguments: options by name, flags, positionals. Every accessor that converts a value
/// throws a one-line error naming the option.
struct Arguments {
    let spec: CommandSpec
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []
    private(set) var wantsHelp = false

    init(_ argv: [String], spec: CommandSpec) throws {
        self.spec = spec
        let byName = Dictionary(uniqueKeysWithValues: spec.options.map { ($0.name, $0) })
        var i = 0
        var onlyPositionals = false
        while i < argv.count {
            let a = argv[i]
            i += 1
            let isShortOption = !onlyPositionals && byName[a] != nil && !a.hasPrefix("--")
            if !isShortOption && (onlyPositionals || !a.hasPrefix("--") || a == "-") {
                if a.hasPrefix("-") && a.count > 1 && !onlyPositionals && a != "-" && Double(a) == nil {
                    throw CLIError("tllm \(spec.name): unknown option '\(a)' (try 'tllm \(spec.name) --help')")
                }
                positionals.append(a)
                continue
            }
            if a == "--" { onlyPositionals = true; continue }
            if a == "--help" { wantsHelp = true; continue }
            var name = a, inline: String? = nil
            if let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq]); inline = String(a[a.index(after: eq)...])
            }
            guard let o = byName[name] else {
                let close = spec.options.map(\.name).filter { Self.distance($0, name) <= 2 }
                let hint = close.isEmpty ? "" : "; did you mean \(close.joined(separator: " or "))?"
                throw CLIError("tllm \(spec.name): unknown option '\(name)'\(hint) (try 'tllm \(spec.name) --help')")
            }
            if o.value == nil {
                if inline != nil { throw CLIError("tllm \(spec.name): option \(name) takes no value") }
                flags.insert(name)
            } else {
                if let inline { values[name] = inline; continue }
                guard i < argv.count else {
                    throw CLIError("tllm \(spec.name): option \(name) needs a value (\(o.value!))")
                }
                values[name] = argv[i]
                i += 1
            }
        }
        if !spec.allowsPositionals && !positionals.isEmpty {
            throw CLIError("tllm \(spec.name): unexpected argument '\(positionals[0])' (try 'tllm \(spec.name) --help')")
        }
    }

    func has(_ flag: String) -> Bool { flags.contains(flag) }
    func string(_ name: String) -> String? { values[name] ?? spec.options.first { $0.name == name }?.defaultValue }
    func isSet(_ name: String) -> Bool { values[name] != nil }

    func string(_ name: String, default d: String) -> String { string(name) ?? d }

    func int(_ name: String) throws -> Int? {
        guard let s = string(name) else { return nil }
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")) else {
            throw CLIError("tllm \(spec.name): \(name) expects an integer, got '\(s)'")
        }
        return v
    }

    func int(_ name: String, default d: Int) throws -> Int { try int(name) ?? d }

    /// A seed: a non-negative integer.
    func seed(_ name: String = "--seed", default d: UInt64) throws -> UInt64 {
        guard let v = try int(name) else { return d }
        guard v >= 0 else { throw CLIError("tllm \(spec.name): \(name) must be ≥ 0, got \(v)") }
        return UInt64(v)
    }

    func double(_ name: String) throws -> Double? {
        guard let s = string(name) else { return nil }
        guard let v = Double(s) else { throw CLIError("tllm \(spec.name): \(name) expects a number, got '\(s)'") }
        return v
    }

    func double(_ name: String, default d: Double) throws -> Double { try double(name) ?? d }

    /// A count with an optional K/M/G suffix ("10M", "500K", "1.5e6").
    func count(_ name: String) throws -> Int? {
        guard let s = string(name) else { return nil }
        guard let v = parseCount(s) else {
            throw CLIError("tllm \(spec.name): \(name) expects a count like 10M, 500K or 2000000, got '\(s)'")
        }
        return v
    }

    /// A comma-separated list of counts.
    func countList(_ name: String) throws -> [Int]? {
        guard let s = string(name) else { return nil }
        var out: [Int] = []
        for part in s.split(separator: ",") {
            guard let v = parseCount(String(part)) else {
                throw CLIError("tllm \(spec.name): \(name) expects counts like 1M,3M, got '\(part)'")
            }
            out.append(v)
        }
        return out
    }

    /// A comma-separated list of integers.
    func intList(_ name: String) throws -> [Int]? {
        guard let s = string(name) else { return nil }
        var out: [Int] = []
        for part in s.split(separator: ",") {
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("tllm \(spec.name): \(name) expects integers like 0,1,2, got '\(part)'")
            }
            out.append(v)
        }
        return out
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var prev = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}

/// Parses "10M", "500K", "1.5G", "2e6", "1000".
func parseCount(_ s: String) -> Int? {
    var t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
    guard !t.isEmpty else { return nil }
    var mult = 1.0
    switch t.last!.uppercased() {
    case "K": mult = 1e3; t.removeLast()
    case "M": mult = 1e6; t.removeLast()
    case "G", "B": mult = 1e9; t.removeLast()
    default: break
    }
    guard let v = Double(t), v.isFinite, v >= 0 else { return nil }
    return Int((v * mult).rounded())
}

/// A usage error: printed as is, exit code 2.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
