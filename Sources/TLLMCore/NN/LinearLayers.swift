/// A linear map that inference loops apply to rows of their own buffers (no tape): tllm's f32
/// ``Linear``, a ``QuantizedLinear`` over GGML blocks, or a ``StackedLinear`` of several.
public protocol RowLinear: AnyObject {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// `y[rows, out] = x[rows, in]·Wᵀ + b`, or `y += …` when `accumulate`; `y`'s rows are `ldy`
    /// apart (≥ out).
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool)
}

extension RowLinear {
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        apply(x, rows: rows, into: y, ldy: outFeatures, accumulate: accumulate)
    }
}

/// A fully connected layer `y = x·Wᵀ + b`, weights in PyTorch `nn.Linear` layout:
///
///     weight  [out, in]      bias  [out]  (optional)
///
/// Two paths: ``callAsFunction(_:context:)`` records on the tape (one sgemm forward, two back);
/// ``apply(_:rows:into:accumulate:)`` is the tape-free kernel for inference loops that own their
/// buffers (sgemv for one row, sgemm for more).
public final class Linear: Module, UnaryLayer, RowLinear {
    @ParameterInfo public var weight: Tensor     // [out, in]
    @ParameterInfo public var bias: Tensor?      // [out]

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// Weights N(0, `std`²) from `rng`, bias 0.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, std: Float = 0.02, rng: inout RandomGenerator) {
        super.init()
        weight = Tensor.randn([outFeatures, inFeatures], std: std, rng: &rng, requiresGrad: true)
        self.bias = bias ? Tensor(zeros: [outFeatures], requiresGrad: true) : nil
    }

    /// A layer over given tensors.
    public init(weight: Tensor, bias: Tensor? = nil) {
        super.init()
        check(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    /// `[…, in] → […, out]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight, bias) }

    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { x.linear(weight, bias) }

    /// `y[rows, out] = x[rows, in]·Wᵀ + b`, or `y += x·Wᵀ + b` when `accumulate` (the bias is
    /// added to `y` first, then the product). No tape, no allocation.
    @inline(__always)
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        let outF = outFeatures
        if let b = bias { RowKernels.addBias(b.data, rows: rows, into: y, cols: outF, ldy: ldy, accumulate: accumulate) }
        RowKernels.linear(x, rows: rows, in: inFeatures, weight: weight.data, out: outF, into: y, ldy: ldy,
                          accumulate: accumulate || bias != nil)
    }
}

/// A lookup table `[count, dim]`: row `i` is the vector of id `i`.
public final class Embedding: Module {
    @ParameterInfo public var weight: Tensor     // [count, dim]

    public var count: Int { weight.shape[0] }
    public var dimension: Int { weight.shape[1] }

    /// Rows N(0, `std`²) from `rng`.
    public init(_ count: Int, _ dimension: Int, std: Float = 0.02, rng: inout RandomGenerator) {
        super.init()
        weight = Tensor.randn([count, dimension], std: std, rng: &rng, requiresGrad: true)
    }

    /// `[n] ids → [n, dim]` (gradients scatter-add into the table).
    public func callAsFunction(_ ids: [Int32]) -> Tensor { weight.gatherRows(ids) }

    /// The rows of positions `0..<n` (learned position embeddings).
    public func positions(_ n: Int) -> Tensor { weight.gatherRows((0..<Int32(n)).map { $0 }) }
}
