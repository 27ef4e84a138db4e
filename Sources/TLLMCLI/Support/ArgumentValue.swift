import Foundation
import TLLMCore

/// A type an option's text parses into. Numbers must be finite; every value is checked when the
/// command line is parsed, before a command runs.
public protocol ArgumentValue {
    /// The value of `text`, or nil when it is not one.
    static func parse(_ text: String) -> Self?
    /// What a valid text looks like ("an integer", "one of: gelu, swiglu").
    static var expected: String { get }
    /// The numbers in the value, for domain checks (empty for non-numbers).
    var numbers: [Double] { get }
    /// How the value reads in `--help` defaults.
    var helpText: String { get }
    /// The names a choice option accepts (listed in `--help`); nil for free values.
    static var choices: [String]? { get }
}

extension ArgumentValue {
    public var numbers: [Double] { [] }
    public var helpText: String { "\(self)" }
    public static var choices: [String]? { nil }
}

extension Int: ArgumentValue {
    public static func parse(_ text: String) -> Int? { Int(text.replacingOccurrences(of: "_", with: "")) }
    public static var expected: String { "an integer" }
    public var numbers: [Double] { [Double(self)] }
}

extension Double: ArgumentValue {
    public static func parse(_ text: String) -> Double? { Double(text).flatMap { $0.isFinite ? $0 : nil } }
    public static var expected: String { "a finite number" }
    public var numbers: [Double] { [self] }
    public var helpText: String { String(format: "%g", self) }
}

extension Float: ArgumentValue {
    public static func parse(_ text: String) -> Float? { Float(text).flatMap { $0.isFinite ? $0 : nil } }
    public static var expected: String { "a finite number" }
    public var numbers: [Double] { [Double(self)] }
    public var helpText: String { String(format: "%g", Double(self)) }
}

extension String: ArgumentValue {
    public static func parse(_ text: String) -> String? { text }
    public static var expected: String { "text" }
}

/// A seed: a non-negative integer.
extension UInt64: ArgumentValue {
    public static func parse(_ text: String) -> UInt64? { UInt64(text.replacingOccurrences(of: "_", with: "")) }
    public static var expected: String { "a non-negative integer" }
    public var numbers: [Double] { [Double(self)] }
}

/// A count with an optional K/M/G suffix: `10M`, `500K`, `1.5e6`, `2000000`.
public struct Count: ArgumentValue, Equatable, CustomStringConvertible {
    public var value: Int
    public init(_ value: Int) { self.value = value }
    public static func parse(_ text: String) -> Count? { parseCount(text).map(Count.init) }
    public static var expected: String { "a count like 10M, 500K or 2000000" }
    public var numbers: [Double] { [Double(value)] }
    public var description: String { formatCount(value) }
}

/// Comma-separated values: `0,1,2,4`, `1M,3M`.
public struct List<Element: ArgumentValue>: ArgumentValue {
    public var values: [Element]
    public init(_ values: [Element]) { self.values = values }
    public static func parse(_ text: String) -> List? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !text.isEmpty, !parts.contains(where: \.isEmpty) else { return nil }
        var out: [Element] = []
        for p in parts { guard let v = Element.parse(p) else { return nil }; out.append(v) }
        return List(out)
    }
    public static var expected: String { "a comma-separated list of \(Element.expected.replacingOccurrences(of: "an ", with: "").replacingOccurrences(of: "a ", with: ""))s" }
    public var numbers: [Double] { values.flatMap(\.numbers) }
    public var helpText: String { values.map(\.helpText).joined(separator: ",") }
}

/// A choice among named cases (`--norm layernorm|rmsnorm`).
public protocol ArgumentChoice: ArgumentValue, CaseIterable, RawRepresentable where RawValue == String {}

extension ArgumentChoice {
    public static func parse(_ text: String) -> Self? { Self(rawValue: text) }
    public static var expected: String { "one of: " + allCases.map(\.rawValue).joined(separator: ", ") }
    public var helpText: String { rawValue }
    public static var choices: [String]? { allCases.map(\.rawValue) }
}

extension Optional: ArgumentValue where Wrapped: ArgumentValue {
    public static func parse(_ text: String) -> Optional? { Wrapped.parse(text).map { .some($0) } }
    public static var expected: String { Wrapped.expected }
    public var numbers: [Double] { self?.numbers ?? [] }
    public var helpText: String { self?.helpText ?? "" }
    public static var choices: [String]? { Wrapped.choices }
}

/// Where a numeric option's values must lie; checked for every number the value holds.
public struct Domain: Sendable {
    let accepts: @Sendable (Double) -> Bool
    /// "must be …" text for the error.
    let requirement: String

    public static let positive = Domain(accepts: { $0 > 0 }, requirement: "positive")
    public static let nonNegative = Domain(accepts: { $0 >= 0 }, requirement: "≥ 0")
    /// A probability or a share: `[0, 1)`.
    public static let fraction = Domain(accepts: { $0 >= 0 && $0 < 1 }, requirement: "in [0, 1)")
    /// A share held out: `(0, 1)`.
    public static let openFraction = Domain(accepts: { $0 > 0 && $0 < 1 }, requirement: "in (0, 1)")
    /// `(0, 1]`.
    public static let unitInterval = Domain(accepts: { $0 > 0 && $0 <= 1 }, requirement: "in (0, 1]")
    public static func atLeast(_ lo: Double) -> Domain { Domain(accepts: { $0 >= lo }, requirement: "≥ \(String(format: "%g", lo))") }
    public static func within(_ r: ClosedRange<Double>) -> Domain {
        Domain(accepts: { r.contains($0) }, requirement: "in [\(String(format: "%g", r.lowerBound)), \(String(format: "%g", r.upperBound))]")
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
    let r = (v * mult).rounded()
    guard r < 9e18 else { return nil }
    return Int(r)
}
