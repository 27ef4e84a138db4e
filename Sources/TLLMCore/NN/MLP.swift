/// The feed-forward sub-layer of a transformer block:
///
///     GELU:    x ─ c_fc ─ gelu ─ c_proj ─►                                 (GPT-2, BERT)
///     SwiGLU:  x ─┬─ w_gate ─ silu ─(⊙)─ c_proj ─►                         (Llama)
///                 └─ w_up ───────────┘
///
/// Checkpoint names: `c_fc.*` or `w_gate.*` / `w_up.weight`, then `c_proj.*`.
public final class MLP: Module, UnaryLayer {
    /// The non-linearity.
    public enum Activation: String, Codable, Sendable, CaseIterable { case gelu, swiglu }

    public let activation: Activation
    @ModuleInfo public var fc: Linear                     // [h, d]  c_fc (GELU) / w_gate (SwiGLU)
    @ModuleInfo(key: "w_up") public var up: Linear?       // [h, d]  SwiGLU only, no bias
    @ModuleInfo(key: "c_proj") public var proj: Linear    // [d, h]

    /// GPT-2 initialisation: N(0, 0.02) for the inner matrices, `projectionStd` for `c_proj`
    /// (0.02/√(2·layers) on the residual path); biases (if any) on `c_fc`/`w_gate` and `c_proj`.
    public init(_ d: Int, hidden h: Int, activation: Activation, bias: Bool, projectionStd: Float,
                rng: inout RandomGenerator) {
        self.activation = activation
        _fc = ModuleInfo(key: activation == .gelu ? "c_fc" : "w_gate")
        super.init()
        fc = Linear(d, h, bias: bias, std: 0.02, rng: &rng)
        up = activation == .swiglu ? Linear(d, h, bias: false, std: 0.02, rng: &rng) : nil
        proj = Linear(h, d, bias: bias, std: projectionStd, rng: &rng)
    }

    public var hidden: Int { fc.outFeatures }

    /// `[n, d] → [n, d]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let inner: Tensor
        switch activation {
        case .gelu: inner = fc(x).gelu()                       // [n, h]
        case .swiglu: inner = fc(x).silu() * up!(x)            // [n, h]
        }
        return proj(inner)                                     // [n, d]
    }

    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { self(x) }

    /// Tape-free rows: `y[rows, d] += MLP(x[rows, d])`, with scratch `inner` and `gate` of
    /// `rows × hidden` each.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, addingInto y: UnsafeMutablePointer<Float>,
                      inner: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>) {
        fc.apply(x, rows: rows, into: inner, accumulate: false)
        switch activation {
        case .gelu:
            RowKernels.gelu(inner, count: rows * hidden)
        case .swiglu:
            up!.apply(x, rows: rows, into: gate, accumulate: false)
            RowKernels.swiglu(inner, gate, count: rows * hidden)
        }
        proj.apply(inner, rows: rows, into: y, accumulate: true)
    }
}

/// Layers applied one after the other.
public final class Sequential: Module, UnaryLayer {
    @ModuleInfo(key: "layers") public var layers: [any UnaryLayer]

    public init(_ layers: [any UnaryLayer]) {
        super.init()
        self.layers = layers
    }

    /// The layers in order; a ``BatchNorm`` followed by a ReLU ``ActivationLayer`` runs as one
    /// fused op (the same numbers, one pass fewer each way).
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        var h = x, i = 0
        while i < layers.count {
            if let norm = layers[i] as? BatchNorm, i + 1 < layers.count, (layers[i + 1] as? ActivationLayer)?.kind == .relu {
                h = norm(h, context: context, thenReLU: true)
                i += 2
            } else {
                h = layers[i](h, context: context)
                i += 1
            }
        }
        return h
    }
}

/// An element-wise function as a layer (for ``Sequential``): no parameters.
public final class ActivationLayer: Module, UnaryLayer {
    /// Which function (`custom` for a closure of the caller's).
    public enum Kind: Sendable { case gelu, relu, tanh, custom }
    public let kind: Kind
    let f: (Tensor) -> Tensor
    public init(_ f: @escaping (Tensor) -> Tensor) { self.f = f; kind = .custom; super.init() }
    init(_ kind: Kind, _ f: @escaping (Tensor) -> Tensor) { self.f = f; self.kind = kind; super.init() }
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { f(x) }

    public static var gelu: ActivationLayer { ActivationLayer(.gelu) { $0.gelu() } }
    public static var relu: ActivationLayer { ActivationLayer(.relu) { $0.relu() } }
    public static var tanh: ActivationLayer { ActivationLayer(.tanh) { $0.tanh() } }
}

/// Dropout as a layer: active only in a training context with a random stream.
public final class Dropout: Module, UnaryLayer {
    public let p: Float
    public init(_ p: Float) { self.p = p; super.init() }
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor { context.dropout(x, p) }
}
