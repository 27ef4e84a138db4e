import XCTest
import TLLMCore

// Shared by the test targets: finite-difference gradient checks and reference helpers.

/// Finite-difference gradient checking.
///
/// The scalar probed is `L = Σ out ⊙ R` for a fixed random `R`, so every output element's
/// Jacobian row is exercised. Analytic gradients come from ``Tensor/backward(seed:)``; numeric ones
/// from central differences `(L(x+h) − L(x−h)) / 2h`, evaluated in double from float outputs.
public enum GradCheck {
    public static func check(_ inputs: [Tensor], h: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 2e-2,
                      file: StaticString = #filePath, line: UInt = #line,
                      _ f: ([Tensor]) -> Tensor) {
        BLASRuntime.prepare()
        for t in inputs { t.requiresGrad = true; t.zeroGrad() }
        let out0 = f(inputs)
        var rng = RandomGenerator(seed: 99, stream: 7)
        let R = Tensor.uniform(out0.shape, low: -1, high: 1, rng: &rng)
        let loss = (out0 * R).sum()
        loss.backward()
        func L() -> Double {
            let o = Autograd.withNoGrad { f(inputs) }
            var s = 0.0
            for i in 0..<o.count { s += Double(o[flat: i]) * Double(R[flat: i]) }
            return s
        }
        for (k, x) in inputs.enumerated() {
            guard let g = x.grad else {
                XCTFail("input \(k) got no gradient", file: file, line: line)
                continue
            }
            for i in 0..<x.count {
                let orig = x[flat: i]
                x[flat: i] = orig + h
                let lp = L()
                x[flat: i] = orig - h
                let lm = L()
                x[flat: i] = orig
                let numeric = Float((lp - lm) / (2 * Double(h)))
                let analytic = g[flat: i]
                let err = abs(numeric - analytic) - (atol + rtol * max(abs(numeric), abs(analytic)))
                if err > 0 {
                    XCTFail("input \(k) element \(i): analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
                    return
                }
            }
        }
    }

    /// Max |a − b| between a tensor and reference values.
    public static func maxDiff(_ t: Tensor, _ ref: [Double]) -> Double {
        precondition(t.count == ref.count)
        var m = 0.0
        for i in 0..<t.count { m = max(m, abs(Double(t[flat: i]) - ref[i])) }
        return m
    }

    public static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform(shape, low: -scale, high: scale, rng: &rng)
    }
}
