// MARK: - Binary elementwise ops with broadcasting over rows

/// How the right operand of a binary op lines up with the left one.
enum Broadcast {
    /// Same number of elements, elementwise.
    case same
    /// The right operand is one row repeated over the left's rows (`[…, C] ∘ [C]`).
    case rows(cols: Int)
    /// The right operand is one element.
    case scalar

    static func of(_ a: Tensor, _ b: Tensor, _ op: String) -> Broadcast {
        if a.shape == b.shape { return .same }
        if b.count == 1 { return .scalar }
        if b.rank <= a.rank && Array(a.shape.suffix(b.rank)) == b.shape { return .rows(cols: b.count) }
        fatalError("\(op): cannot broadcast \(b.shape) onto \(a.shape)")
    }
}

extension Tensor {
    /// `self + other`; `other` may be the same shape, a trailing-dimension row (bias), or a scalar.
    public func adding(_ other: Tensor) -> Tensor { binary(other, "add", sub: false) }

    /// `self − other` (same broadcasting as ``adding(_:)``).
    public func subtracting(_ other: Tensor) -> Tensor { binary(other, "sub", sub: true) }

    private func binary(_ other: Tensor, _ opName: String, sub: Bool) -> Tensor {
        let a = self, b = other
        let mode = Broadcast.of(a, b, opName)
        let out = Tensor(uninitialized: a.shape)
        let x = a.data, y = b.data, z = out.data, n = a.count
        let sign: Float = sub ? -1 : 1
        switch mode {
        case .same:
            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { z[i] = x[i] + sign * y[i] } }
        case .scalar:
            let s = sign * y[0]
            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { z[i] = x[i] + s } }
        case .rows(let c):
            let rows = n / c
            Parallel.forRanges(rows, grain: max(1, 16384 / c)) { r in
                for i in r { for j in 0..<c { z[i * c + j] = x[i * c + j] + sign * y[j] } }
            }
        }
        if Autograd.needsGrad(a, b) {
            Autograd.record(out, inputs: [a, b]) { out in
                let g = out.gradStorage!
                if b.requiresGrad {
                    let gp = g.pointer
                    switch mode {
                    case .same:
                        if sub {
                            b.withGradBuffer { db, acc in
                                Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(db, i, -gp[i], acc) } }
                            }
                        } else if a.requiresGrad {
                            b.withGradBuffer { db, acc in
                                Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(db, i, gp[i], acc) } }
                            }
                        } else {
                            b.accumulateGrad(sharing: g)
                        }
                    case .scalar:
                        let s = sign * VectorMath.sum(gp, n)
                        b.withGradBuffer { db, acc in put(db, 0, s, acc) }
                    case .rows(let c):
                        b.withGradBuffer { db, acc in
                            if sub {
                                let tmp = Storage(count: c)
                                columnSums(gp, rows: n / c, cols: c, into: tmp.pointer, accumulate: false)
                                for j in 0..<c { put(db, j, -tmp.pointer[j], acc) }
                            } else {
                                columnSums(gp, rows: n / c, cols: c, into: db, accumulate: acc)
                            }
                        }
                    }
                }
                // Last, so that the left operand may take the output's gradient storage itself.
                if a.requiresGrad { a.accumulateGrad(sharing: g) }
            }
        }
        return out
    }

    /// `self ⊙ other` (same broadcasting as ``adding(_:)``).
    public func multiplying(_ other: Tensor) -> Tensor {
        let a = self, b = other
        let mode = Broadcast.of(a, b, "mul")
        let out = Tensor(uninitialized: a.shape)
        let x = a.data, y = b.data, z = out.data, n = a.count
        switch mode {
        case .same:
            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { z[i] = x[i] * y[i] } }
        case .scalar:
            let s = y[0]
            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { z[i] = x[i] * s } }
        case .rows(let c):
            Parallel.forRanges(n / c, grain: max(1, 16384 / c)) { r in
                for i in r { for j in 0..<c { z[i * c + j] = x[i * c + j] * y[j] } }
            }
        }
        if Autograd.needsGrad(a, b) {
            Autograd.record(out, inputs: [a, b]) { out in
                let g = out.gradStorage!.pointer
                if a.requiresGrad {
                    a.withGradBuffer { da, acc in
                        switch mode {
                        case .same:
                            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(da, i, g[i] * y[i], acc) } }
                        case .scalar:
                            let s = y[0]
                            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(da, i, g[i] * s, acc) } }
                        case .rows(let c):
                            Parallel.forRanges(n / c, grain: max(1, 16384 / c)) { r in
                                for i in r { for j in 0..<c { put(da, i * c + j, g[i * c + j] * y[j], acc) } }
                            }
                        }
                    }
                }
                if b.requiresGrad {
                    b.withGradBuffer { db, acc in
                        switch mode {
                        case .same:
                            Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(db, i, g[i] * x[i], acc) } }
                        case .scalar:
                            put(db, 0, VectorMath.dot(g, x, n), acc)
                        case .rows(let c):
                            // Σ over rows of g ⊙ x, parallel over columns (deterministic).
                            Parallel.forRanges(c, grain: max(16, 4096 / max(1, n / c))) { r in
                                for j in r {
                                    var s: Float = 0
                                    var i = j
                                    while i < n { s += g[i] * x[i]; i += c }
                                    put(db, j, s, acc)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// `k · self`.
    public func scaled(by k: Float) -> Tensor {
        let a = self
        let out = Tensor(uninitialized: shape)
        let x = a.data, z = out.data, n = count
        Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { z[i] = x[i] * k } }
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer
                a.withGradBuffer { da, acc in
                    Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { put(da, i, g[i] * k, acc) } }
                }
            }
        }
        return out
    }

    /// `self + k` elementwise.
    public func adding(scalar k: Float) -> Tensor {
        let a = self
        let out = Tensor(uninitialized: shape)
        let x = a.data, z = out.data, n = count
        Parallel.forRanges(n, grain: 1 << 15) { r in for i in r { z[i] = x[i] + k } }
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in a.accumulateGrad(sharing: out.gradStorage!) }
        }
        return out
    }

    /// `−self`.
    public func negated() -> Tensor { scaled(by: -1) }
}

// MARK: - Operators

public func + (a: Tensor, b: Tensor) -> Tensor { a.adding(b) }
public func - (a: Tensor, b: Tensor) -> Tensor { a.subtracting(b) }
public func * (a: Tensor, b: Tensor) -> Tensor { a.multiplying(b) }
public func * (a: Tensor, k: Float) -> Tensor { a.scaled(by: k) }
public func * (k: Float, a: Tensor) -> Tensor { a.scaled(by: k) }
public func + (a: Tensor, k: Float) -> Tensor { a.adding(scalar: k) }
public prefix func - (a: Tensor) -> Tensor { a.negated() }
