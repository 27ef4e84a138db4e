import Foundation
import TLLMCore

/// Which backbone encodes the images.
public enum EncoderKind: String, Codable, Sendable, CaseIterable {
    /// conv 3×3 (c) → BN → ReLU → conv 3×3 (2c) → BN → ReLU → max-pool 2 → conv 3×3 (2c) → BN → ReLU → global average.
    case cnn
    /// flatten → linear (4c) → BN → ReLU → linear (2c) → BN → ReLU.
    case mlp
}

/// An encoder's shape: the images it reads and the widths it uses.
public struct EncoderConfig: Codable, Sendable, Equatable {
    public var kind: EncoderKind = .cnn
    public var channels = 1, height = 8, width = 8
    /// Base width c (see ``EncoderKind``).
    public var base = 32
    /// Output size of SimCLR's projection head (dropped for downstream use).
    public var projection = 32

    public init(kind: EncoderKind = .cnn) { self.kind = kind }

    /// Size of the features the backbone hands downstream.
    public var features: Int { 2 * base }
}

/// A backbone and a projection head: `features(x)` for downstream use, `embed(x)` for the loss.
/// Checkpoint names come from the module tree: `backbone.layers.0.weight`, …, `head.layers.2.bias`.
public final class ImageEncoder: Module {
    public let config: EncoderConfig
    @ModuleInfo public var backbone: Sequential
    @ModuleInfo public var head: Sequential

    public init(_ c: EncoderConfig, seed: UInt64) {
        config = c
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("encoder-init"))
        super.init()
        let b = c.base, f = c.features
        switch c.kind {
        case .cnn:
            backbone = Sequential([
                Conv2d(c.channels, b, kernel: 3, padding: 1, rng: &rng), BatchNorm(b), ActivationLayer.relu,
                Conv2d(b, f, kernel: 3, padding: 1, rng: &rng), BatchNorm(f), ActivationLayer.relu,
                Pool2d(.max(2)),
                Conv2d(f, f, kernel: 3, padding: 1, rng: &rng), BatchNorm(f), ActivationLayer.relu,
                Pool2d(.global),
            ])
        case .mlp:
            let d = c.channels * c.height * c.width
            backbone = Sequential([
                Flatten(),
                Linear(d, 4 * b, std: (2 / Float(d)).squareRoot(), rng: &rng), BatchNorm(4 * b), ActivationLayer.relu,
                Linear(4 * b, f, std: (2 / Float(4 * b)).squareRoot(), rng: &rng), BatchNorm(f), ActivationLayer.relu,
            ])
        }
        head = Sequential([
            Linear(f, f, std: (2 / Float(f)).squareRoot(), rng: &rng), ActivationLayer.relu,
            Linear(f, c.projection, std: (1 / Float(f)).squareRoot(), rng: &rng),
        ])
    }

    /// `[N, C, H, W]` → `[N, features]`.
    public func features(_ x: Tensor, context: ForwardContext) -> Tensor { backbone(x, context: context) }

    /// The CNN's last feature map before global pooling, `[N, features, H/2, W/2]` (Deep InfoMax's
    /// local features); nil for the MLP.
    public func localFeatures(_ x: Tensor, context: ForwardContext) -> Tensor? {
        guard config.kind == .cnn else { return nil }
        return backbone.layers.dropLast().reduce(x) { $1($0, context: context) }
    }

    /// `[N, C, H, W]` → `[N, projection]` (backbone, then head).
    public func embed(_ x: Tensor, context: ForwardContext) -> Tensor { head(backbone(x, context: context), context: context) }

    /// Frozen features of many images in evaluation mode, `[N, features]` row-major, in chunks.
    public func encode(_ images: Tensor, chunk: Int = 512) -> [Float] {
        let N = images.shape[0], per = images.count / max(1, N)
        var out: [Float] = []
        out.reserveCapacity(N * config.features)
        Autograd.withNoGrad {
            for start in stride(from: 0, to: N, by: chunk) {
                let n = min(chunk, N - start)
                let x = Tensor(shape: [n] + Array(images.shape.dropFirst()),
                               values: Array(UnsafeBufferPointer(start: images.data + start * per, count: n * per)))
                let f = features(x, context: .inference)
                out += Array(UnsafeBufferPointer(start: f.data, count: f.count))
            }
        }
        return out
    }
}
