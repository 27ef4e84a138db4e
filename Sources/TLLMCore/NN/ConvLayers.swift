import Foundation

/// A 2-D convolution layer over `[N, C, H, W]` images (``Tensor/conv2d(_:_:stride:padding:)``).
public final class Conv2d: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor     // [O, C, k, k]
    @ParameterInfo public var bias: Tensor?      // [O]
    public let stride: Int
    public let padding: Int

    /// He initialisation, N(0, 2/(C·k·k)) — the fan-in of a ReLU layer; bias 0.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                rng: inout RandomGenerator) {
        self.stride = stride; self.padding = padding
        super.init()
        let std = (2 / Float(inChannels * kernel * kernel)).squareRoot()
        weight = Tensor.randn([outChannels, inChannels, kernel, kernel], std: std, rng: &rng, requiresGrad: true)
        self.bias = bias ? Tensor(zeros: [outChannels], requiresGrad: true) : nil
    }

    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        x.conv2d(weight, bias, stride: stride, padding: padding)
    }
}

/// Batch normalization of axis 1 (``Tensor/batchNorm(gamma:beta:runningMean:runningVar:training:momentum:eps:)``):
/// batch statistics while `context.training`, running statistics otherwise. The running mean and
/// variance are saved with the weights (`running_mean`, `running_var`) but never trained.
public final class BatchNorm: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor                                   // [C] γ
    @ParameterInfo public var bias: Tensor                                     // [C] β
    @ParameterInfo(key: "running_mean") public var runningMean: Tensor         // [C]
    @ParameterInfo(key: "running_var") public var runningVar: Tensor           // [C]
    public let momentum: Float
    public let eps: Float

    /// γ = 1, β = 0, running mean 0 and variance 1 (PyTorch's defaults: momentum 0.1, eps 1e-5).
    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        self.momentum = momentum; self.eps = eps
        super.init()
        weight = Tensor(shape: [channels], repeating: 1, requiresGrad: true)
        bias = Tensor(zeros: [channels], requiresGrad: true)
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
    }

    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        self(x, context: context, thenReLU: false)
    }

    /// The normalization, followed by a ReLU in the same pass when `thenReLU`.
    public func callAsFunction(_ x: Tensor, context: ForwardContext, thenReLU: Bool) -> Tensor {
        x.batchNorm(gamma: weight, beta: bias, runningMean: runningMean, runningVar: runningVar,
                    training: context.training, momentum: momentum, eps: eps, thenReLU: thenReLU)
    }

    /// The statistics that are state, not parameters (the optimizer and gradient checks skip them).
    public var buffers: [Tensor] { [runningMean, runningVar] }
}

/// `[N, C, H, W]` → `[N, C·H·W]` (or any rank → `[N, rest]`).
public final class Flatten: Module, UnaryLayer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        x.reshaped([x.shape[0], x.count / Swift.max(1, x.shape[0])])
    }
}

/// Max pooling, average pooling or the global average as a layer.
public final class Pool2d: Module, UnaryLayer {
    public enum Kind: Sendable { case max(Int), average(Int), global }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind; super.init() }
    public func callAsFunction(_ x: Tensor, context: ForwardContext) -> Tensor {
        switch kind {
        case .max(let k): return x.maxPool2d(k)
        case .average(let k): return x.avgPool2d(k)
        case .global: return x.globalAvgPool()
        }
    }
}
