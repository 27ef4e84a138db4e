import Foundation
import TLLMCore

/// What `tllm help` and `tllm NAME --help` say about a command.
public struct CommandInfo {
    public var name: String          // e.g. "tokenizer train"
    public var summary: String
    public var usage: String         // after "tllm <name> "
    public var discussion: String = ""
}

/// A subcommand: a struct whose stored properties are its options (``Option``, ``Flag``,
/// ``Positionals``, option groups), declared once; `run()` wires them to the libraries.
public protocol ParsableCommand {
    static var info: CommandInfo { get }
    init()
    func run() throws
}

/// The options of one command instance, found by reflection.
struct CommandOptions {
    var slots: [OptionSlot] = []
    var positionals: Positionals?
    var runtime: RuntimeOptions?

    init(_ command: Any) { collect(command) }

    private mutating func collect(_ value: Any) {
        for child in Mirror(reflecting: value).children {
            if let s = child.value as? OptionSlot { slots.append(s) }
            else if let p = child.value as? Positionals { positionals = p }
            else if let r = child.value as? RuntimeOptions { runtime = r; collect(r) }
            else if child.value is OptionGroup { collect(child.value) }
        }
    }

    func slot(named name: String) -> OptionSlot? { slots.first { $0.names.contains(name) } }
}

/// A usage error: printed as is, exit code 2.
public struct CLIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Thrown by a command that has already reported and wants a specific exit code.
struct ExitRequest: Error { var code: Int32 }

extension ParsableCommand {
    /// A fresh command with `argv` parsed into its options. `--help` returns nil.
    public static func parse(_ argv: [String]) throws -> Self? {
        let command = Self()
        let options = CommandOptions(command)
        let name = info.name
        var i = 0, onlyPositionals = false
        var positionals: [String] = []
        while i < argv.count {
            let a = argv[i]
            i += 1
            if onlyPositionals || a == "-" || !a.hasPrefix("-") || (Double(a) != nil && options.slot(named: a) == nil) {
                positionals.append(a)
                continue
            }
            if a == "--" { onlyPositionals = true; continue }
            if a == "--help" || a == "-h" { return nil }
            var flag = a, inline: String? = nil
            if let eq = a.firstIndex(of: "="), a.hasPrefix("--") { flag = String(a[..<eq]); inline = String(a[a.index(after: eq)...]) }
            guard let slot = options.slot(named: flag) else { throw unknown(flag, options) }
            if slot.placeholder == nil || inline != nil { try slot.accept(inline, command: name); continue }
            // A value that is itself one of the options means the value was forgotten.
            let next = i < argv.count ? argv[i] : nil
            if let n = next, n.hasPrefix("--"), options.slot(named: n) != nil || n == "--help" { try slot.accept(nil, command: name) }
            try slot.accept(next, command: name)
            i += 1
        }
        if let p = options.positionals { p.values = positionals } else if let first = positionals.first {
            throw CLIError("tllm \(name): unexpected argument '\(first)' (try 'tllm \(name) --help')")
        }
        return command
    }

    static func unknown(_ flag: String, _ options: CommandOptions) -> CLIError {
        let close = options.slots.flatMap(\.names).filter { editDistance($0, flag) <= 2 }
        let hint = close.isEmpty ? "" : "; did you mean \(close.joined(separator: " or "))?"
        return CLIError("tllm \(info.name): unknown option '\(flag)'\(hint) (try 'tllm \(info.name) --help')")
    }

    /// `tllm NAME --help`: usage, then every option from its declaration.
    public static var helpText: String {
        let options = CommandOptions(Self())
        var s = "tllm \(info.name) — \(info.summary)\n\nUsage: tllm \(info.name) \(info.usage)\n"
        let lefts = options.slots.map { o in o.names.joined(separator: ", ") + (o.placeholder.map { " \($0)" } ?? "") }
        let width = max(8, min(34, lefts.map(\.count).max() ?? 0))
        if !options.slots.isEmpty {
            s += "\nOptions:\n"
            for (o, left) in zip(options.slots, lefts) {
                let pad = String(repeating: " ", count: max(1, width - left.count + 2))
                let extra = o.defaultHelp.map { $0.hasPrefix("one of") ? " (\($0))" : " (default: \($0))" } ?? ""
                s += "  \(left)\(pad)\(o.help)\(extra)\n"
            }
        }
        s += "  --help\(String(repeating: " ", count: max(1, width - 4)))show this help\n"
        if !info.discussion.isEmpty { s += "\n\(info.discussion)\n" }
        return s
    }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count { cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)) }
        prev = cur
    }
    return prev[b.count]
}
