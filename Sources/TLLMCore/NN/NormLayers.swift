/// A per-row normalization with a learned gain (and optionally a shift), applied over the last
/// dimension. ``LayerNorm`` and ``RMSNorm`` conform; models pick one from their configuration.
public protocol NormLayer: UnaryLayer {
    var weight: Tensor { get }       // [d] gain
    var bias: Tensor? { get }        // [d] shift (LayerNorm with bias only)
    var eps: Float { get }
    /// `[…, d] → […, d]` on the tape.
    func callAsFunction(_ x: Tensor) -> Tensor
    /// Tape-free rows: `y[rows, d] = norm(x[rows, d])` (may alias).
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int)
}

extension NormLayer {
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { self(x) }
}

/// `y = (x − mean) / √(var + eps) · γ + β` over the last dimension.
public final class LayerNorm: Module, NormLayer {
    @ParameterInfo public var weight: Tensor     // [d]
    @ParameterInfo public var bias: Tensor?      // [d]
    public let eps: Float

    /// γ = 1, β = 0 (or no β).
    public init(_ d: Int, bias: Bool = true, eps: Float = 1e-5) {
        self.eps = eps
        super.init()
        weight = Tensor(shape: [d], repeating: 1, requiresGrad: true)
        self.bias = bias ? Tensor(zeros: [d], requiresGrad: true) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(gamma: weight, beta: bias, eps: eps) }

    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        RowKernels.layerNorm(x, y, rows: rows, cols: weight.count, gamma: weight.data, beta: bias?.data, eps: eps)
    }
}

/// `y = x / √(mean(x²) + eps) · γ` over the last dimension (no centring, no shift).
public final class RMSNorm: Module, NormLayer {
    @ParameterInfo public var weight: Tensor     // [d]
    public let eps: Float
    public var bias: Tensor? { nil }

    /// γ = 1.
    public init(_ d: Int, eps: Float = 1e-5) {
        self.eps = eps
        super.init()
        weight = Tensor(shape: [d], repeating: 1, requiresGrad: true)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(gamma: weight, eps: eps) }

    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        RowKernels.rmsNorm(x, y, rows: rows, cols: weight.count, gamma: weight.data, eps: eps)
    }
}
