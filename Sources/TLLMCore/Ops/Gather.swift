// MARK: - Row gathers: embedding lookup, pooling by index

extension Tensor {
    /// Rows of `self` (a table `[V, D]`) at `indices`: the result is `[indices.count, D]`.
    ///
    /// This is the embedding lookup (and [CLS]/last-token pooling). Backward scatter-adds each
    /// output row into the table's gradient; threads own disjoint ranges of table rows, so the sum
    /// order per row is the index order, for any thread count.
    public func gatherRows(_ indices: [Int32]) -> Tensor {
        let table = self
        check(rank == 2, "gatherRows: table must be 2-D, got \(shape)")
        let V = shape[0], D = shape[1], n = indices.count
        for t in indices { check(t >= 0 && Int(t) < V, "gatherRows: index \(t) outside 0..<\(V)") }
        let out = Tensor(uninitialized: [n, D])
        let src = table.data, dst = out.data
        indices.withUnsafeBufferPointer { ip in
            Parallel.forRanges(n, grain: max(1, 8192 / max(1, D))) { r in
                for i in r { (dst + i * D).update(from: src + Int(ip[i]) * D, count: D) }
            }
        }
        if Autograd.needsGrad(table) {
            Autograd.record(out, inputs: [table]) { out in
                let g = out.gradStorage!.pointer
                table.withGradBuffer { dt, acc in
                    if !acc { memset(dt, 0, V * D * 4) }
                    indices.withUnsafeBufferPointer { ip in
                        Parallel.forRanges(V, grain: 64) { vr in
                            for i in 0..<n {
                                let t = Int(ip[i])
                                guard vr.contains(t) else { continue }
                                let d = dt + t * D, s = g + i * D
                                for j in 0..<D { d[j] += s[j] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Embedding lookup: alias of ``gatherRows(_:)`` reshaped to `shape + [D]`.
    public func embedding(_ ids: [Int32], shape idsShape: [Int]) -> Tensor {
        gatherRows(ids).reshaped(idsShape + [self.shape[1]])
    }
}

import Foundation
