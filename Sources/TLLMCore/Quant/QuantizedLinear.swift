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

    /// The parts' matrices, when all are bias-free quantized matrices of one type (one GEMV pass).
    public lazy var fusedMatrices: [QuantizedMatrix]? = {
        let q = parts.compactMap { ($0 as? QuantizedLinear).flatMap { $0.bias == nil ? $0.weight : nil } }
        guard q.count == parts.count, Set(q.map(\.type)).count == 1, q[0].type != .f32, q[0].type != .f16 else { return nil }
        return q
    }()

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        if rows == 1 && !accumulate, let q = fusedMatrices {
            // One pass for all parts: x prepared once, rows split over the pool together.
            let m0 = q[0]
            let input = QuantDispatch.prepare(x, count: m0.cols, type: m0.type)
            var column = 0
            let targets = q.map { m -> (QuantizedMatrix, UnsafeMutablePointer<Float>) in defer { column += m.rows }; return (m, y + column) }
            QuantDispatch.parallelRows(targets, input: input)
            return
        }
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
