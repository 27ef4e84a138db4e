// MARK: - Reductions

extension Tensor {
    /// The sum of all elements (a scalar).
    public func sum() -> Tensor {
        let a = self
        let n = count
        let s = Tensor.blockSum(a.data, n)
        let out = Tensor(scalar: Float(s))
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer[0]
                a.withGradBuffer { d, acc in
                    Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(d, i, g, acc) } }
                }
            }
        }
        return out
    }

    /// The mean of all elements (a scalar).
    public func mean() -> Tensor { sum().scaled(by: 1 / Float(max(1, count))) }

    /// Sums over `axis`, removing it: `[…, n, …] → […, …]`.
    public func sum(axis: Int) -> Tensor {
        let a = self
        let ax = axis < 0 ? rank + axis : axis
        let (outer, length, inner) = around(ax)
        var s = shape
        s.remove(at: ax)
        let out = Tensor(uninitialized: s)
        let src = a.data, dst = out.data
        Parallel.forRanges(outer, grain: 1) { r in
            for o in r {
                let base = src + o * length * inner, d = dst + o * inner
                if inner == 1 { d[0] = VectorMath.sum(base, length); continue }   // the last axis: one SIMD row sum
                for j in 0..<inner { d[j] = 0 }
                for k in 0..<length { let row = base + k * inner; for j in 0..<inner { d[j] += row[j] } }
            }
        }
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer
                a.withGradBuffer { d, acc in
                    Parallel.forRanges(outer, grain: 1) { r in
                        for o in r {
                            if inner == 1 && !acc { (d + o * length).update(repeating: g[o], count: length); continue }
                            for k in 0..<length {
                                for j in 0..<inner { put(d, (o * length + k) * inner + j, g[o * inner + j], acc) }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Means over `axis`, removing it.
    public func mean(axis: Int) -> Tensor {
        let ax = axis < 0 ? rank + axis : axis
        return sum(axis: ax).scaled(by: 1 / Float(max(1, shape[ax])))
    }

    /// Σ p[i] in fixed 4096-element blocks summed in order (reproducible, accurate).
    static func blockSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var total: Double = 0
        var i = 0
        while i < n {
            let w = min(4096, n - i)
            total += Double(VectorMath.sum(p + i, w))
            i += w
        }
        return total
    }
}
