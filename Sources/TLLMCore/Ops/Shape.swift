// MARK: - Shape ops: reshape, transpose, concat, split

extension Tensor {
    /// The same elements in a new shape (a view: no copy). One dimension may be `-1`.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let k = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *)
            check(rest > 0 && count % rest == 0, "reshape: cannot infer -1 in \(newShape) for \(count) elements")
            s[k] = count / rest
        }
        check(s.elementCount == count, "reshape: \(shape) (\(count) elements) into \(s)")
        let a = self
        let out = Tensor(shape: s, storage: storage)
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in a.accumulateGrad(sharing: out.gradStorage!) }
        }
        return out
    }

    /// Swaps the last two axes (a copy): `[…, M, N] → […, N, M]`.
    public func transposedLastTwo() -> Tensor {
        check(rank >= 2, "transpose: needs rank ≥ 2, got \(shape)")
        let a = self
        let M = shape[rank - 2], N = shape[rank - 1]
        let batch = count / max(1, M * N)
        var s = shape
        s.swapAt(rank - 2, rank - 1)
        let out = Tensor(uninitialized: s)
        Tensor.transposeKernel(a.data, out.data, batch: batch, M: M, N: N, accumulate: false)
        if Autograd.needsGrad(a) {
            Autograd.record(out, inputs: [a]) { out in
                let g = out.gradStorage!.pointer
                a.withGradBuffer { d, acc in Tensor.transposeKernel(g, d, batch: batch, M: N, N: M, accumulate: acc) }
            }
        }
        return out
    }

    /// `dst[b, j, i] (+)= src[b, i, j]` for `src` of `[batch, M, N]`, blocked for cache use.
    static func transposeKernel(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                batch: Int, M: Int, N: Int, accumulate: Bool) {
        let blk = 32
        let tilesM = (M + blk - 1) / blk
        Parallel.forRanges(batch * tilesM, grain: 1) { r in
            for t in r {
                let b = t / tilesM, i0 = (t % tilesM) * blk
                let s = src + b * M * N, d = dst + b * M * N
                var j0 = 0
                while j0 < N {
                    for i in i0..<min(M, i0 + blk) {
                        for j in j0..<min(N, j0 + blk) { put(d, j * M + i, s[i * N + j], accumulate) }
                    }
                    j0 += blk
                }
            }
        }
    }

    /// Splits `shape` around `axis` into (outer, axis length, inner) element counts.
    func around(_ axis: Int) -> (outer: Int, length: Int, inner: Int) {
        let ax = axis < 0 ? rank + axis : axis
        check(ax >= 0 && ax < rank, "axis \(axis) out of range for shape \(shape)")
        return (shape[..<ax].reduce(1, *), shape[ax], shape[(ax + 1)...].reduce(1, *))
    }

    /// Concatenates tensors along `axis` (all other dimensions equal).
    public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
        check(!parts.isEmpty, "concat: no tensors")
        let first = parts[0]
        let ax = axis < 0 ? first.rank + axis : axis
        for p in parts {
            check(p.rank == first.rank, "concat: ranks differ (\(first.shape), \(p.shape))")
            for d in 0..<p.rank where d != ax {
                check(p.shape[d] == first.shape[d], "concat: shapes \(first.shape) and \(p.shape) differ off axis \(axis)")
            }
        }
        let (outer, _, inner) = first.around(ax)
        let lengths = parts.map { $0.shape[ax] }
        let total = lengths.reduce(0, +)
        var s = first.shape
        s[ax] = total
        let out = Tensor(uninitialized: s)
        let rowOut = total * inner
        var offset = 0
        for (k, p) in parts.enumerated() {
            let w = lengths[k] * inner, src = p.data, dst = out.data, off = offset
            Parallel.forRanges(outer, grain: max(1, 8192 / max(1, w))) { r in
                for o in r { (dst + o * rowOut + off).update(from: src + o * w, count: w) }
            }
            offset += w
        }
        if Autograd.needsGrad(parts) {
            Autograd.record(out, inputs: parts) { out in
                let g = out.gradStorage!.pointer
                var offset = 0
                for (k, p) in parts.enumerated() {
                    let w = lengths[k] * inner, off = offset
                    offset += w
                    guard p.requiresGrad else { continue }
                    p.withGradBuffer { d, acc in
                        Parallel.forRanges(outer, grain: max(1, 8192 / max(1, w))) { r in
                            for o in r { for j in 0..<w { put(d, o * w + j, g[o * rowOut + off + j], acc) } }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Splits along `axis` into pieces of the given sizes (the inverse of ``concat(_:axis:)``).
    public func split(_ sizes: [Int], axis: Int) -> [Tensor] {
        let a = self
        let ax = axis < 0 ? rank + axis : axis
        let (outer, length, inner) = around(ax)
        check(sizes.reduce(0, +) == length, "split: sizes \(sizes) do not add up to \(length) on axis \(axis)")
        let rowIn = length * inner
        var results: [Tensor] = []
        var offset = 0
        for sz in sizes {
            var s = shape
            s[ax] = sz
            let out = Tensor(uninitialized: s)
            let w = sz * inner, off = offset, src = a.data, dst = out.data
            Parallel.forRanges(outer, grain: max(1, 8192 / max(1, w))) { r in
                for o in r { (dst + o * w).update(from: src + o * rowIn + off, count: w) }
            }
            if Autograd.needsGrad(a) {
                Autograd.record(out, inputs: [a]) { out in
                    let g = out.gradStorage!.pointer
                    // The input's gradient is written piece by piece: the first piece to arrive
                    // zero-fills the buffer so that every piece can add into its slice.
                    a.withGradBuffer { d, acc in
                        if !acc { memset(d, 0, a.count * 4) }
                        Parallel.forRanges(outer, grain: max(1, 8192 / max(1, w))) { r in
                            for o in r { for j in 0..<w { d[o * rowIn + off + j] += g[o * w + j] } }
                        }
                    }
                }
            }
            results.append(out)
            offset += w
        }
        return results
    }
}

import Foundation
