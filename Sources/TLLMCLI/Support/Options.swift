import Foundation

// MARK: - Declaring options

/// What the parser needs from any option or flag.
protocol OptionSlot: AnyObject {
    var names: [String] { get }
    var placeholder: String? { get }     // nil for a flag
    var help: String { get }
    var defaultHelp: String? { get }
    var isSet: Bool { get }
    /// Parses and checks `text`; the message says what is wrong.
    func accept(_ text: String?, command: String) throws
}

/// An option of a command, declared once with its flag, value type, default, help and domain:
///
///     @Option("--batch", "B", help: "sequences per micro-batch", .positive) var batch = 16
///     @Option("--layers", "L", help: "transformer blocks") var layers: Int?
///
/// Values are parsed and checked (type, finiteness, domain) before the command runs.
@propertyWrapper
public final class Option<Value: ArgumentValue>: OptionSlot {
    let names: [String]
    let placeholder: String?
    let help: String
    let domain: Domain?
    let defaultValue: Value
    let defaultDescription: String?
    private(set) var parsed: Value?

    public var wrappedValue: Value { parsed ?? defaultValue }
    /// `$option.isSet`: whether the command line gave it.
    public var projectedValue: Option<Value> { self }
    public var isSet: Bool { parsed != nil }

    public init(wrappedValue: Value, _ name: String, _ placeholder: String, aliases: [String] = [], help: String,
                _ domain: Domain? = nil, defaultDescription: String? = nil) {
        names = [name] + aliases; self.placeholder = placeholder; self.help = help; self.domain = domain
        defaultValue = wrappedValue; self.defaultDescription = defaultDescription
    }

    var defaultHelp: String? {
        let text = defaultDescription ?? defaultValue.helpText
        let choices = Value.choices.map { "one of: " + $0.joined(separator: ", ") }
        switch (choices, text.isEmpty) {
        case (let c?, false): return "\(c); default: \(text)"
        case (let c?, true): return c
        case (nil, false): return text
        case (nil, true): return nil
        }
    }

    func accept(_ text: String?, command: String) throws {
        guard let text else { throw CLIError("tllm \(command): option \(names[0]) needs a value (\(placeholder ?? ""))") }
        guard let v = Value.parse(text) else {
            throw CLIError("tllm \(command): \(names[0]) expects \(Value.expected), got '\(text)'")
        }
        if let domain, let bad = v.numbers.first(where: { !domain.accepts($0) }) {
            throw CLIError("tllm \(command): \(names[0]) must be \(domain.requirement), got \(String(format: "%g", bad))")
        }
        parsed = v
    }
}

extension Option where Value: ExpressibleByNilLiteral {
    /// An option with no default (nil when not given).
    public convenience init(_ name: String, _ placeholder: String, aliases: [String] = [], help: String, _ domain: Domain? = nil,
                            defaultDescription: String? = nil) {
        self.init(wrappedValue: nil, name, placeholder, aliases: aliases, help: help, domain, defaultDescription: defaultDescription)
    }
}

/// A flag without a value (`--json`).
@propertyWrapper
public final class Flag: OptionSlot {
    let names: [String]
    let help: String
    private(set) var isSet = false
    var placeholder: String? { nil }
    var defaultHelp: String? { nil }

    public var wrappedValue: Bool { isSet }

    public init(_ name: String, help: String) { names = [name]; self.help = help }

    func accept(_ text: String?, command: String) throws {
        guard text == nil else { throw CLIError("tllm \(command): option \(names[0]) takes no value") }
        isSet = true
    }
}

/// The positional arguments of a command that takes them (files, a query).
@propertyWrapper
public final class Positionals {
    let placeholder: String
    var values: [String] = []
    public var wrappedValue: [String] { values }
    public init(_ placeholder: String) { self.placeholder = placeholder }
}

/// A set of options several commands share (declared once, used as a stored property).
public protocol OptionGroup {}

/// `--threads`: one thread count for OpenBLAS and tllm's kernels.
public struct RuntimeOptions: OptionGroup {
    @Option("--threads", "N", help: "threads (default: all cores, or TLLM_THREADS)", .positive) var threads: Int?
    public init() {}
}

/// `--json`: results as one JSON object on stdout.
public struct OutputOptions: OptionGroup {
    @Flag("--json", help: "print the result as one JSON object on stdout") var json: Bool
    public init() {}
}
