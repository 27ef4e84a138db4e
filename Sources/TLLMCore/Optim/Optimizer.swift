import Foundation

/// A set of parameters sharing optimizer settings (e.g. matrices with weight decay, norms and
/// biases without).
public struct ParameterGroup {
    /// The parameters (frozen ones — `requiresGrad == false` — are skipped and get no state).
    public var parameters: [Tensor]
    /// Decoupled weight decay (AdamW) or L2 penalty (SGD) for this group.
    public var weightDecay: Float
    /// A multiplier on the optimizer's learning rate for this group.
    public var learningRateScale: Float

    public init(_ parameters: [Tensor], weightDecay: Float = 0, learningRateScale: Float = 1) {
        self.parameters = parameters
        self.weightDecay = weightDecay
        self.learningRateScale = learningRateScale
    }

    /// The usual split: matrices (rank ≥ 2, not embeddings when `decayEmbeddings` is false) decay;
    /// vectors (norm gains, biases) do not.
    public static func standard(_ parameters: [Tensor], weightDecay: Float,
                                isEmbedding: (Tensor) -> Bool = { _ in false },
                                decayEmbeddings: Bool = true) -> [ParameterGroup] {
        var decay: [Tensor] = [], noDecay: [Tensor] = []
        for p in parameters {
            if p.rank >= 2 && (decayEmbeddings || !isEmbedding(p)) { decay.append(p) } else { noDecay.append(p) }
        }
        return [ParameterGroup(decay, weightDecay: weightDecay), ParameterGroup(noDecay, weightDecay: 0)]
    }
}

/// Something that updates parameters from their gradients.
public protocol Optimizer: AnyObject {
    /// The base learning rate (schedules set it before each step).
    var learningRate: Float { get set }
    /// The number of steps taken.
    var stepCount: Int { get }
    /// Applies one update from the current gradients.
    func step()
    /// The parameters this optimizer updates (all groups, in order).
    var parameters: [Tensor] { get }
}

/// An optimizer whose per-parameter state can be saved and restored exactly (checkpoints store
/// each state tensor as `<name>.<parameter>`, e.g. `m.transformer.wte.weight`).
public protocol StatefulOptimizer: Optimizer {
    /// Names of the per-parameter state tensors, in order (`m`, `v` for AdamW).
    var stateNames: [String] { get }
    /// The state tensors of `p`, in ``stateNames`` order (nil before its first update, or frozen).
    func stateTensors(of p: Tensor) -> [Storage]?
    /// Replaces the step count and the per-parameter states.
    func restoreState(step: Int, states: [(parameter: Tensor, tensors: [[Float]])])
}

extension StatefulOptimizer {
    /// Copies `values` into fresh storage (restore helpers).
    static func storage(_ values: [Float], for p: Tensor) -> Storage {
        check(values.count == p.count, "\(Self.self).restoreState: state size does not match \(p.name)")
        let s = Storage(count: p.count)
        values.withUnsafeBufferPointer { s.pointer.update(from: $0.baseAddress!, count: values.count) }
        return s
    }
}

extension Optimizer {
    /// Drops every parameter's gradient (the next backward writes fresh ones).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

// MARK: - AdamW

/// Adam with decoupled weight decay (Loshchilov & Hutter), as `torch.optim.AdamW`:
/// `p ← p − lr·wd·p`, then `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p − lr·m̂/(√v̂ + ε)` with bias-corrected `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
///
/// Moments exist only for trainable parameters, allocated at their first update.
public final class AdamW: StatefulOptimizer {
    public var groups: [ParameterGroup]
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public private(set) var stepCount = 0
    /// First and second moments per parameter (by identity); absent for frozen parameters.
    public private(set) var moments: [ObjectIdentifier: (m: Storage, v: Storage)] = [:]

    public init(groups: [ParameterGroup], learningRate: Float = 1e-3, beta1: Float = 0.9,
                beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.groups = groups
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public var parameters: [Tensor] { groups.flatMap(\.parameters) }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
        let b1 = beta1, b2 = beta2, eps = epsilon
        for group in groups {
            let lr = learningRate * group.learningRateScale
            let decay = 1 - lr * group.weightDecay
            let stepSize = lr / bc1
            let invSqrtBc2 = 1 / bc2.squareRoot()
            for p in group.parameters where p.requiresGrad {
                guard let g = p.gradStorage else { continue }
                let state = moments[ObjectIdentifier(p)] ?? {
                    let s = (m: Storage(count: p.count, repeating: 0), v: Storage(count: p.count, repeating: 0))
                    moments[ObjectIdentifier(p)] = s
                    return s
                }()
                let w = p.data, gp = g.pointer, m = state.m.pointer, v = state.v.pointer
                Parallel.forRanges(p.count, grain: 1 << 14) { r in
                    for i in r {
                        let gi = gp[i]
                        let mi = b1 * m[i] + (1 - b1) * gi
                        let vi = b2 * v[i] + (1 - b2) * gi * gi
                        m[i] = mi; v[i] = vi
                        let denom = vi.squareRoot() * invSqrtBc2 + eps
                        w[i] = w[i] * decay - stepSize * mi / denom
                    }
                }
            }
        }
    }

    /// Replaces the moments and step count (checkpoint resume). `states` maps each trainable
    /// parameter to its (m, v) values.
    public func restore(step: Int, states: [(parameter: Tensor, m: [Float], v: [Float])]) {
        stepCount = step
        moments = [:]
        for s in states {
            check(s.m.count == s.parameter.count && s.v.count == s.parameter.count, "AdamW.restore: moment sizes do not match \(s.parameter.name)")
            let m = Storage(count: s.parameter.count), v = Storage(count: s.parameter.count)
            s.m.withUnsafeBufferPointer { m.pointer.update(from: $0.baseAddress!, count: s.m.count) }
            s.v.withUnsafeBufferPointer { v.pointer.update(from: $0.baseAddress!, count: s.v.count) }
            moments[ObjectIdentifier(s.parameter)] = (m, v)
        }
    }

    /// The moments of `p`, if it has any.
    public func state(of p: Tensor) -> (m: Storage, v: Storage)? { moments[ObjectIdentifier(p)] }

    public var stateNames: [String] { ["m", "v"] }

    public func stateTensors(of p: Tensor) -> [Storage]? { state(of: p).map { [$0.m, $0.v] } }

    public func restoreState(step: Int, states: [(parameter: Tensor, tensors: [[Float]])]) {
        restore(step: step, states: states.map { ($0.parameter, $0.tensors[0], $0.tensors[1]) })
    }
}

// MARK: - SGD

/// Stochastic gradient descent with momentum, as `torch.optim.SGD`:
/// `g ← g + wd·p`; `b ← μ·b + g` (b₀ = g); `p ← p − lr·(nesterov ? g + μ·b : b)`.
public final class SGD: StatefulOptimizer {
    public var groups: [ParameterGroup]
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public internal(set) var stepCount = 0
    public internal(set) var buffers: [ObjectIdentifier: Storage] = [:]

    public init(groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, nesterov: Bool = false) {
        self.groups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
    }

    public var parameters: [Tensor] { groups.flatMap(\.parameters) }

    public func step() {
        stepCount += 1
        let mu = momentum, nest = nesterov
        for group in groups {
            let lr = learningRate * group.learningRateScale, wd = group.weightDecay
            for p in group.parameters where p.requiresGrad {
                guard let g = p.gradStorage else { continue }
                let w = p.data, gp = g.pointer
                if mu == 0 {
                    Parallel.forRanges(p.count, grain: 1 << 14) { r in
                        for i in r { w[i] -= lr * (gp[i] + wd * w[i]) }
                    }
                    continue
                }
                let first = buffers[ObjectIdentifier(p)] == nil
                let buf = buffers[ObjectIdentifier(p)] ?? {
                    let s = Storage(count: p.count)
                    buffers[ObjectIdentifier(p)] = s
                    return s
                }()
                let b = buf.pointer
                Parallel.forRanges(p.count, grain: 1 << 14) { r in
                    for i in r {
                        let gi = gp[i] + wd * w[i]
                        let bi = first ? gi : mu * b[i] + gi
                        b[i] = bi
                        w[i] -= lr * (nest ? gi + mu * bi : bi)
                    }
                }
            }
        }
    }
}

extension SGD {
    public var stateNames: [String] { ["momentum"] }

    public func stateTensors(of p: Tensor) -> [Storage]? { buffers[ObjectIdentifier(p)].map { [$0] } }

    public func restoreState(step: Int, states: [(parameter: Tensor, tensors: [[Float]])]) {
        stepCount = step
        buffers = [:]
        for s in states { buffers[ObjectIdentifier(s.parameter)] = Self.storage(s.tensors[0], for: s.parameter) }
    }
}

// MARK: - Gradient clipping

public enum GradientClipping {
    /// The global L2 norm of all gradients (summed in double, fixed order).
    public static func globalNorm(_ parameters: [Tensor]) -> Float {
        var total: Double = 0
        for p in parameters where p.requiresGrad {
            guard let g = p.gradStorage else { continue }
            let gp = g.pointer
            let n = p.count
            let blocks = (n + 4095) / 4096
            let partial = UnsafeMutablePointer<Double>.allocate(capacity: max(1, blocks))
            defer { partial.deallocate() }
            Parallel.forRanges(blocks, grain: 4) { r in
                for b in r {
                    let lo = b * 4096, w = min(4096, n - lo)
                    partial[b] = Double(VectorMath.dot(gp + lo, gp + lo, w))
                }
            }
            for b in 0..<blocks { total += partial[b] }
        }
        return Float(total.squareRoot())
    }

    /// Scales all gradients so their global norm is at most `maxNorm`; returns the norm before.
    @discardableResult
    public static func clip(_ parameters: [Tensor], maxNorm: Float) -> Float {
        let norm = globalNorm(parameters)
        if norm.isFinite && norm > maxNorm {
            let k = maxNorm / (norm + 1e-6)
            for p in parameters where p.requiresGrad {
                guard let g = p.gradStorage else { continue }
                let gp = g.pointer
                Parallel.forRanges(p.count, grain: 1 << 15) { r in VectorMath.scale(gp + r.lowerBound, r.count, by: k) }
            }
        }
        return norm
    }
}
