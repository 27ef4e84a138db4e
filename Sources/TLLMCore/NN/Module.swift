import Foundation

// MARK: - Declaring parameters and sub-modules

/// Marks a stored tensor of a ``Module`` as a parameter, optionally under a checkpoint key other
/// than the property's name:
///
///     @ParameterInfo(key: "weight") public var weight: Tensor      // [out, in]
///     @ParameterInfo public var bias: Tensor?                       // [out]; nil = none
///
/// Assign the value in `init` after `super.init()`. (A class, so that the module tree can swap
/// the tensor — replicas, loading — through reflection.)
@propertyWrapper
public final class ParameterInfo<Value> {
    public let key: String?
    var storage: Value?

    public var wrappedValue: Value {
        get { storage! }
        set { storage = newValue }
    }

    public init(key: String? = nil) {
        self.key = key
        if let none = Value.self as? ExpressibleByNilLiteral.Type { storage = (none.init(nilLiteral: ()) as! Value) }
    }
    public init(wrappedValue: Value, key: String? = nil) { storage = wrappedValue; self.key = key }
}

/// Marks a stored sub-module (or an optional one, or an array of them) of a ``Module``,
/// optionally under a checkpoint key other than the property's name (dots allowed:
/// `"transformer.h"`). Plain stored `let` modules are children too, under their property name.
@propertyWrapper
public final class ModuleInfo<Value> {
    public let key: String?
    var storage: Value?

    public var wrappedValue: Value {
        get { storage! }
        set { storage = newValue }
    }

    public init(key: String? = nil) {
        self.key = key
        if let none = Value.self as? ExpressibleByNilLiteral.Type { storage = (none.init(nilLiteral: ()) as! Value) }
    }
    public init(wrappedValue: Value, key: String? = nil) { storage = wrappedValue; self.key = key }
}

protocol AnyParameterSlot: AnyObject {
    var key: String? { get }
    var tensor: Tensor? { get set }
}

extension ParameterInfo: AnyParameterSlot {
    var tensor: Tensor? {
        get { storage.flatMap { $0 as? Tensor } }
        set {
            guard let t = newValue else { return }
            if let v = t as? Value { storage = v } else if let v = Optional(t) as? Value { storage = v }
        }
    }
}

protocol AnyModuleSlot: AnyObject {
    var key: String? { get }
    var value: Any? { get }
}

extension ModuleInfo: AnyModuleSlot {
    var value: Any? { storage.map { $0 as Any } }
}

// MARK: - Module

/// A layer or a model: parameters and sub-modules, from which checkpoint names, parameter lists,
/// sharing, copying, freezing and moving averages all follow — written once, here.
///
/// A subclass declares its parameters with ``ParameterInfo`` and its children with
/// ``ModuleInfo`` (or as plain `let` properties); names are derived once by reflection, in
/// declaration order, as `child.grandchild.param` (arrays as `h.0`, `h.1`, …).
open class Module {
    private enum Entry {
        case parameter(String, AnyParameterSlot)
        case slot(String, AnyModuleSlot)
        case child(String, Any)
    }

    private var entries: [Entry]?
    private let entriesLock = NSLock()

    public init() {}

    /// Direct parameters and children in declaration order (reflected once).
    private var directEntries: [Entry] {
        entriesLock.lock()
        defer { entriesLock.unlock() }
        if let entries { return entries }
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let mm = m { mirrors.append(mm); m = mm.superclassMirror }
        var out: [Entry] = []
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard let label = child.label else { continue }
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                if let p = child.value as? AnyParameterSlot {
                    out.append(.parameter(p.key ?? name, p))
                } else if let s = child.value as? AnyModuleSlot {
                    out.append(.slot(s.key ?? name, s))
                } else if child.value is Module || child.value is [Module] {
                    out.append(.child(name, child.value))
                }
            }
        }
        entries = out
        return out
    }

    /// Calls `body(name, slot)` for every parameter slot under this module, in order.
    private func visitParameters(prefix: String, _ body: (String, AnyParameterSlot) -> Void) {
        func visit(_ name: String, _ value: Any?) {
            guard let value else { return }
            if let m = value as? Module {
                m.visitParameters(prefix: name + ".", body)
            } else if let list = value as? [Any] {
                for (i, v) in list.enumerated() { visit("\(name).\(i)", v) }
            } else if let o = value as? OptionalProtocol {
                visit(name, o.wrapped)
            }
        }
        for e in directEntries {
            switch e {
            case .parameter(let k, let p): body(prefix + k, p)
            case .slot(let k, let s): visit(prefix + k, s.value)
            case .child(let k, let v): visit(prefix + k, v)
            }
        }
    }

    // MARK: Parameters

    /// Every parameter with its checkpoint name, in declaration order (absent optionals skipped).
    public final var namedParameters: [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        visitParameters(prefix: "") { name, slot in if let t = slot.tensor { out.append((name, t)) } }
        return out
    }

    /// The parameters alone, in the same order.
    public final var parameters: [Tensor] { namedParameters.map(\.1) }

    /// The number of parameter elements.
    public final var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Sets every parameter's `name` to its checkpoint name (for reports and error messages).
    public final func nameParameters() {
        for (n, t) in namedParameters { t.name = n }
    }

    /// Freezes (`true`) or unfreezes every parameter under this module: a frozen parameter gets
    /// no gradient and no optimizer state, and the backward pass stops below it.
    public final func freeze(_ frozen: Bool = true) {
        for t in parameters { t.requiresGrad = !frozen }
    }

    // MARK: Replicas, copies, moving averages

    /// The parameter slots of `self` and `other`, paired; the trees must have the same names.
    private func pairedSlots(with other: Module, _ what: String) -> [(AnyParameterSlot, AnyParameterSlot)] {
        var mine: [(String, AnyParameterSlot)] = [], theirs: [(String, AnyParameterSlot)] = []
        visitParameters(prefix: "") { n, s in if s.tensor != nil { mine.append((n, s)) } }
        other.visitParameters(prefix: "") { n, s in if s.tensor != nil { theirs.append((n, s)) } }
        check(mine.map(\.0) == theirs.map(\.0), "\(what): the two modules have different parameters")
        return zip(mine, theirs).map { ($0.1, $1.1) }
    }

    /// Makes every parameter of this module a view of `other`'s (same storage, own gradient,
    /// same `requiresGrad`): a data-parallel replica that trains the same weights.
    public final func shareParameters(with other: Module) {
        for (a, b) in pairedSlots(with: other, "shareParameters") {
            let src = b.tensor!
            let t = Tensor(shape: src.shape, storage: src.storage, requiresGrad: src.requiresGrad)
            t.name = src.name
            a.tensor = t
        }
    }

    /// Copies `other`'s parameter values into this module's own storage (a deep copy of the
    /// weights; shapes must match).
    public final func copyParameters(from other: Module) {
        for (a, b) in pairedSlots(with: other, "copyParameters") {
            let (dst, src) = (a.tensor!, b.tensor!)
            check(dst.shape == src.shape, "copyParameters: \(dst.name) has shape \(dst.shape), the source \(src.shape)")
            dst.assign(from: src)
        }
    }

    /// Exponential moving average toward `other`: `θ ← m·θ + (1 − m)·θ_other` for every
    /// parameter (MoCo's key encoder, EMA weights). Outside any graph.
    public final func updateMovingAverage(toward other: Module, momentum m: Float) {
        check(m >= 0 && m <= 1, "updateMovingAverage: momentum must be in [0, 1], got \(m)")
        for (a, b) in pairedSlots(with: other, "updateMovingAverage") {
            let (dst, src) = (a.tensor!, b.tensor!)
            check(dst.count == src.count, "updateMovingAverage: \(dst.name) sizes differ")
            let d = dst.data, s = src.data, w = 1 - m
            Parallel.forRanges(dst.count, grain: 1 << 15) { r in
                for i in r { d[i] = m * d[i] + w * s[i] }
            }
        }
    }
}

/// `Optional` seen through `Any`.
private protocol OptionalProtocol { var wrapped: Any? { get } }
extension Optional: OptionalProtocol {
    fileprivate var wrapped: Any? { self.map { $0 as Any } }
}

// MARK: - Modules built from a configuration

/// A module built from a value configuration and a seed; replicas and deep copies follow.
public protocol ConfigurableModule: Module {
    associatedtype Configuration
    var configuration: Configuration { get }
    init(configuration: Configuration, seed: UInt64) throws
}

extension ConfigurableModule {
    /// A module over the same weights (shared storage) with its own gradients, for a
    /// data-parallel worker; frozen parameters stay frozen.
    public func replica() -> Self {
        let r = try! Self(configuration: configuration, seed: 0)
        r.shareParameters(with: self)
        return r
    }

    /// An independent module with a copy of these weights (MoCo's key encoder, snapshots).
    public func deepCopy() -> Self {
        let r = try! Self(configuration: configuration, seed: 0)
        r.copyParameters(from: self)
        for (a, b) in zip(r.parameters, parameters) { a.requiresGrad = b.requiresGrad; a.name = b.name }
        return r
    }
}

// MARK: - Layers with one input

/// A layer that maps one tensor to one tensor (what ``Sequential`` chains).
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor
}

extension Module {
    /// AdamW groups: decay on matrices (rank ≥ 2, embeddings included as in nanoGPT), none on
    /// norms and biases.
    public func parameterGroups(weightDecay: Float) -> [ParameterGroup] {
        ParameterGroup.standard(parameters, weightDecay: weightDecay)
    }
}
