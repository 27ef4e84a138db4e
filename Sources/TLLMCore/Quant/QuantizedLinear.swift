/// A linear layer over a ``QuantizedMatrix`` (inference only): `y = x·Wᵀ + b`.
public final class QuantizedLinear: RowLinear {
    public let weight: QuantizedMatrix     // [out, in]
    public let bias: Tensor?               // [out]

    public init(_ weight: QuantizedMatrix, bias: Tensor? = nil) {
        if let bias { check(bias.count == weight.rows, "QuantizedLinear: bias \(bias.shape) for \(weight.rows) outputs") }
        self.weight = weight
        self.bias = bias
    }

    public var inFeatures: Int { weight.cols }
    public var outFeatures: Int { weight.rows }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        if let b = bias { RowKernels.addBias(b.data, rows: rows, into: y, cols: outFeatures, ldy: ldy, accumulate: accumulate) }
        weight.apply(x, rows: rows, into: y, ldy: ldy, accumulate: accumulate || bias != nil)
    }
}

/// Several linear maps of the same input side by side: `y = [x·W₁ᵀ | x·W₂ᵀ | …]` (separate Q, K, V
/// matrices as one fused projection, without copying them).
public final class StackedLinear: RowLinear {
    public let parts: [any RowLinear]

    public init(_ parts: [any RowLinear]) {
        check(!parts.isEmpty && parts.allSatisfy { $0.inFeatures == parts[0].inFeatures }, "StackedLinear: parts must share their input width")
        self.parts = parts
    }

    public var inFeatures: Int { parts[0].inFeatures }
    public var outFeatures: Int { parts.reduce(0) { $0 + $1.outFeatures } }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        var column = 0
        for p in parts {
            if rows == 1 && !accumulate && ldy != p.outFeatures {
                p.apply(x, rows: 1, into: y + column, ldy: p.outFeatures, accumulate: false)
            } else {
                p.apply(x, rows: rows, into: y + column, ldy: ldy, accumulate: accumulate)
            }
            column += p.outFeatures
        }
    }
}
