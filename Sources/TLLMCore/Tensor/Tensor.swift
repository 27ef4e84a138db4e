import Foundation

/// A dense Float32 tensor: a shape over contiguous, row-major, 64-byte-aligned storage.
///
/// Tensors are immutable to the operations that read them (every op returns a new tensor); the
/// storage is reference-counted and may be shared (``reshaped(_:)`` is a view). A tensor that
/// ``requiresGrad`` takes part in reverse-mode differentiation: each op that reads one records, on
/// its result, how to push gradients back to its inputs (see ``backward(seed:)``).
public final class Tensor: CustomStringConvertible {
    // MARK: - Data

    /// Dimensions, outermost first. A scalar has shape `[]`.
    public let shape: [Int]
    /// The elements.
    public let storage: Storage
    /// Number of elements (product of `shape`).
    public let count: Int
    /// A name for reports and checkpoints (parameters carry their checkpoint name).
    public var name: String = ""

    // MARK: - Autograd state

    /// Whether gradients flow to this tensor. Set it on parameters; op results inherit it.
    /// Setting it to `false` on a parameter freezes it: it gets no gradient buffer and no
    /// optimizer state, and backward stops below the lowest layer that still needs a gradient.
    public var requiresGrad: Bool
    /// The gradient, once backward has reached this tensor (same shape and layout).
    public var gradStorage: Storage?
    /// Keep this tensor's gradient after backward even though it is not a leaf.
    public var retainsGrad = false
    /// The record of the op that produced this tensor, while the graph is alive.
    var node: Node?

    // MARK: - Creation

    /// A tensor over existing storage (no copy). `storage.count` must be at least the shape's product.
    public init(shape: [Int], storage: Storage, requiresGrad: Bool = false) {
        let n = shape.reduce(1, *)
        check(storage.count >= n, "storage of \(storage.count) elements is too small for shape \(shape)")
        check(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = n
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// An uninitialised tensor (every element must be written before it is read).
    public convenience init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: Storage(count: shape.reduce(1, *)))
    }

    /// A tensor of `value`s.
    public convenience init(shape: [Int], repeating value: Float, requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Storage(count: shape.reduce(1, *), repeating: value),
                  requiresGrad: requiresGrad)
    }

    /// A tensor of zeros.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, repeating: 0, requiresGrad: requiresGrad)
    }

    /// A tensor holding `values` (row-major) in `shape`.
    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        check(values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape)")
        self.init(shape: shape, storage: Storage(count: values.count), requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: values.count) }
        }
    }

    /// A scalar tensor.
    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    /// Normally distributed values with mean 0 and standard deviation `std`, from `rng`.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RandomGenerator,
                             requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        rng.fillNormal(t.data, count: t.count, std: std)
        t.requiresGrad = requiresGrad
        return t
    }

    /// Uniform values in `[low, high)`, from `rng`.
    public static func uniform(_ shape: [Int], low: Float, high: Float, rng: inout RandomGenerator,
                               requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        rng.fillUniform(t.data, count: t.count, low: low, high: high)
        t.requiresGrad = requiresGrad
        return t
    }

    // MARK: - Access

    /// The first element.
    @inline(__always) public var data: UnsafeMutablePointer<Float> { storage.pointer }
    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The last dimension (1 for a scalar).
    public var lastDim: Int { shape.last ?? 1 }
    /// The product of all dimensions but the last: the number of rows of the 2-D view.
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }
    /// The elements, copied out.
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    /// The single element of a one-element tensor.
    public var item: Float {
        check(count == 1, "item needs a one-element tensor, got shape \(shape)")
        return data[0]
    }
    /// Flat element access.
    public subscript(flat i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
    /// Whether no op produced this tensor (a parameter or an input).
    public var isLeaf: Bool { node == nil }

    /// The gradient as a tensor (shares storage), if backward reached this tensor.
    public var grad: Tensor? {
        guard let g = gradStorage else { return nil }
        return Tensor(shape: shape, storage: g)
    }

    /// Drops the gradient (the next backward writes a fresh one).
    public func zeroGrad() { gradStorage = nil }

    /// The same storage, outside any graph.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// A deep copy (new storage), outside any graph.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Copies `other`'s elements into this tensor's storage (same element count).
    public func assign(from other: Tensor) {
        check(other.count == count, "assign: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    public var description: String {
        let preview = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape)\(name.isEmpty ? "" : " \(name)"): [\(preview)\(count > 8 ? ", …" : "")])"
    }

    // MARK: - Gradient buffers (for op implementations)

    /// Calls `body` with this tensor's gradient buffer and whether it already holds values
    /// (`true`: add into it; `false`: fresh, uninitialised — `body` must write every element).
    @inline(__always)
    public func withGradBuffer(_ body: (UnsafeMutablePointer<Float>, _ accumulate: Bool) -> Void) {
        if let g = gradStorage {
            body(g.pointer, true)
        } else {
            let g = Storage(count: count)
            gradStorage = g
            body(g.pointer, false)
        }
    }

    /// Adds `g` (same element count) to this tensor's gradient. The first contribution takes
    /// `g`'s storage itself (no copy); callers pass a gradient they no longer need.
    @inline(__always)
    public func accumulateGrad(sharing g: Storage) {
        if let mine = gradStorage {
            let dst = mine.pointer, src = g.pointer
            Parallel.forRanges(count, grain: 1 << 15) { r in
                for i in r { dst[i] += src[i] }
            }
        } else {
            gradStorage = g
        }
    }
}

extension Array where Element == Int {
    /// The product of the dimensions.
    public var elementCount: Int { reduce(1, *) }
}
