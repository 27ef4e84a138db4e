// MARK: - Pointwise activations

extension Tensor {
    /// Applies a pointwise function: `forward` maps 8 lanes of x to y; `derivative(x, y)` gives dy/dx.
    @inline(__always)
    func pointwise(_ forward: @escaping (VectorMath.V) -> VectorMath.V,
                   derivative: @escaping (VectorMath.V, VectorMath.V) -> VectorMath.V) -> Tensor {
        let a = self
        let out = Tensor(uninitialized: shape)
        let x = a.data, y = out.data, n = count
        Parallel.forRanges(n, grain: 1 << 14) { r in
            VectorMath.map(x + r.lowerBound, y + r.lowerBound, r.count, forward)
        }
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer
                let yv = out.data
                a.withGradBuffer { dx, acc in
                    Parallel.forRanges(n, grain: 1 << 14) { r in
                        var i = r.lowerBound
                        let end = r.upperBound
                        while i + VectorMath.W <= end {
                            let xv = UnsafeRawPointer(x + i).loadUnaligned(as: VectorMath.V.self)
                            let yy = UnsafeRawPointer(yv + i).loadUnaligned(as: VectorMath.V.self)
                            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: VectorMath.V.self)
                            var d = gv * derivative(xv, yy)
                            if acc { d += UnsafeRawPointer(dx + i).loadUnaligned(as: VectorMath.V.self) }
                            UnsafeMutableRawPointer(dx + i).storeBytes(of: d, as: VectorMath.V.self)
                            i += VectorMath.W
                        }
                        while i < end {
                            let d = g[i] * derivative(VectorMath.V(repeating: x[i]), VectorMath.V(repeating: yv[i]))[0]
                            put(dx, i, d, acc)
                            i += 1
                        }
                    }
                }
            }
        }
        return out
    }

    /// GELU, tanh approximation (GPT-2's `gelu_new`):
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    ///
    /// Written out (not through ``pointwise(_:derivative:)``) so that the polynomial and the
    /// exponential inline into one vector loop: this is the largest elementwise op of a GPT.
    public func gelu() -> Tensor {
        let a = self
        let out = Tensor(uninitialized: shape)
        let x = a.data, y = out.data, n = count
        typealias V = VectorMath.V
        Parallel.forRanges(n / VectorMath.W, grain: 2048) { r in
            for k in r {
                let i = VectorMath.W * k
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(y + i).storeBytes(of: Activation.gelu(v), as: V.self)
            }
        }
        for i in (n / VectorMath.W * VectorMath.W)..<n { y[i] = Activation.gelu(V(repeating: x[i]))[0] }
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer
                a.withGradBuffer { dx, acc in
                    Parallel.forRanges(n / VectorMath.W, grain: 2048) { r in
                        // The derivative is spelled out here: called through a function it was not
                        // inlined into this loop.
                        let c2 = V(repeating: 2 * Activation.geluC), k = V(repeating: Activation.geluK)
                        let k3 = V(repeating: 3 * Activation.geluK), one = V(repeating: 1)
                        for kk in r {
                            let i = VectorMath.W * kk
                            let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: V.self)
                            let x2 = v * v
                            let u2 = c2 * v.addingProduct(x2 * v, k)
                            let sg = one / (one + VectorMath.exp(-u2))
                            let du2 = c2 * one.addingProduct(x2, k3)
                            var d = gv * sg.addingProduct(v * sg * (one - sg), du2)
                            if acc { d += UnsafeRawPointer(dx + i).loadUnaligned(as: V.self) }
                            UnsafeMutableRawPointer(dx + i).storeBytes(of: d, as: V.self)
                        }
                    }
                    for i in (n / VectorMath.W * VectorMath.W)..<n { put(dx, i, g[i] * Activation.geluDerivative(V(repeating: x[i]))[0], acc) }
                }
            }
        }
        return out
    }

    /// SiLU (swish): `x·σ(x)`.
    public func silu() -> Tensor {
        pointwise({ x in x * VectorMath.sigmoid(x) }, derivative: { x, _ in
            let s = VectorMath.sigmoid(x)
            return s * (1 + x * (1 - s))
        })
    }

    /// ReLU: `max(x, 0)`.
    public func relu() -> Tensor {
        pointwise({ x in x.replacing(with: 0, where: x .< 0) }, derivative: { x, _ in
            VectorMath.V(repeating: 1).replacing(with: 0, where: x .<= 0)
        })
    }

    /// tanh.
    public func tanh() -> Tensor {
        pointwise(VectorMath.tanh, derivative: { _, y in 1 - y * y })
    }

    /// The logistic sigmoid `1/(1 + e^{−x})`.
    public func sigmoid() -> Tensor {
        pointwise(VectorMath.sigmoid, derivative: { _, y in y * (1 - y) })
    }

    /// eˣ.
    public func exp() -> Tensor {
        pointwise({ VectorMath.exp($0) }, derivative: { _, y in y })
    }

    /// The natural logarithm (inputs must be positive).
    public func log() -> Tensor {
        pointwise({ x in
            var r = x
            for i in 0..<VectorMath.W { r[i] = Foundation.log(x[i]) }
            return r
        }, derivative: { x, _ in 1 / x })
    }

    /// x².
    public func squared() -> Tensor {
        pointwise({ $0 * $0 }, derivative: { x, _ in 2 * x })
    }
}

/// Scalar-lane formulas shared by kernels that fuse activations.
public enum Activation {
    /// √(2/π)
    public static let geluC: Float = 0.797_884_560_802_865_4
    public static let geluK: Float = 0.044_715

    /// `0.5·x·(1 + tanh(u)) = x·σ(2u)` with `u = √(2/π)·(x + 0.044715·x³)`: one exponential, one division.
    @inline(__always)
    public static func gelu(_ x: VectorMath.V) -> VectorMath.V {
        typealias V = VectorMath.V
        let x2 = x * x
        let u2 = (2 * geluC) * x.addingProduct(x2 * x, V(repeating: geluK))   // 2u
        return x / (1 + VectorMath.exp(-u2))
    }

    /// d/dx of ``gelu(_:)``: `s + x·s·(1 − s)·2u′` with `s = σ(2u)`, `u′ = √(2/π)·(1 + 3·0.044715·x²)`.
    @inline(__always)
    public static func geluDerivative(_ x: VectorMath.V) -> VectorMath.V {
        typealias V = VectorMath.V
        let x2 = x * x
        let u2 = (2 * geluC) * x.addingProduct(x2 * x, V(repeating: geluK))
        let s = 1 / (1 + VectorMath.exp(-u2))
        let du2 = (2 * geluC) * V(repeating: 1).addingProduct(x2, V(repeating: 3 * geluK))
        return s.addingProduct(x * s * (1 - s), du2)
    }
}

import Foundation
