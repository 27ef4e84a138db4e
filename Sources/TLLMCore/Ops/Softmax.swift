// MARK: - Softmax, log-softmax and the fused softmax + cross-entropy loss

extension Tensor {
    /// Softmax over the last axis.
    public func softmax() -> Tensor {
        let x = self
        let C = lastDim, R = rows
        let out = Tensor(uninitialized: shape)
        let xp = x.data, yp = out.data
        Parallel.forRanges(R, grain: max(1, 8192 / max(1, C))) { r in
            for i in r {
                let row = xp + i * C, o = yp + i * C
                let m = VectorMath.max(row, C)
                let s = VectorMath.expShiftSum(row, o, C, shift: m)
                VectorMath.scale(o, C, by: 1 / s)
            }
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                let dy = out.gradStorage!.pointer, y = out.data
                x.withGradBuffer { dx, acc in
                    Parallel.forRanges(R, grain: max(1, 8192 / max(1, C))) { r in
                        for i in r {
                            let g = dy + i * C, yr = y + i * C, d = dx + i * C
                            let dot = VectorMath.dot(g, yr, C)
                            for j in 0..<C { put(d, j, yr[j] * (g[j] - dot), acc) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// log-softmax over the last axis.
    public func logSoftmax() -> Tensor {
        let x = self
        let C = lastDim, R = rows
        let out = Tensor(uninitialized: shape)
        let xp = x.data, yp = out.data
        Parallel.forRanges(R, grain: max(1, 8192 / max(1, C))) { r in
            for i in r {
                let row = xp + i * C, o = yp + i * C
                let m = VectorMath.max(row, C)
                let s = VectorMath.expShiftSum(row, o, C, shift: m)
                let lse = m + Foundation.log(s)
                for j in 0..<C { o[j] = row[j] - lse }
            }
        }
        if Autograd.needsGrad(x) {
            Autograd.record(out, inputs: [x]) { out in
                let dy = out.gradStorage!.pointer, y = out.data
                x.withGradBuffer { dx, acc in
                    Parallel.forRanges(R, grain: max(1, 8192 / max(1, C))) { r in
                        for i in r {
                            let g = dy + i * C, yr = y + i * C, d = dx + i * C
                            let s = VectorMath.sum(g, C)
                            for j in 0..<C { put(d, j, g[j] - VectorMath.exp(yr[j]) * s, acc) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Mean cross-entropy of `self` (logits `[…, V]`) against integer `targets` (one per row);
    /// rows whose target is `ignoreIndex` do not count. Softmax and loss are one fused kernel:
    /// forward keeps the probabilities, and backward turns them in place into
    /// `(p − onehot)/n`, which becomes the logits' gradient without another buffer.
    public func crossEntropy(targets: [Int32], ignoreIndex: Int32 = -100) -> Tensor {
        let logits = self
        let V = lastDim, R = rows
        check(targets.count == R, "crossEntropy: \(targets.count) targets for \(R) rows of logits \(shape)")
        let probs = Storage(count: R * V)
        let rowLoss = Storage(count: R)
        let xp = logits.data, pp = probs.pointer, lp = rowLoss.pointer
        var bad: Int32? = nil
        for t in targets where t != ignoreIndex && (t < 0 || Int(t) >= V) { bad = t; break }
        check(bad == nil, "crossEntropy: target \(bad ?? 0) outside 0..<\(V)")
        targets.withUnsafeBufferPointer { tp in
            Parallel.forRanges(R, grain: max(1, 16384 / max(1, V))) { r in
                for i in r {
                    let row = xp + i * V, p = pp + i * V
                    let m = VectorMath.max(row, V)
                    let s = VectorMath.expShiftSum(row, p, V, shift: m)
                    VectorMath.scale(p, V, by: 1 / s)
                    let t = tp[i]
                    lp[i] = t == ignoreIndex ? 0 : (m + Foundation.log(s) - row[Int(t)])
                }
            }
        }
        var total: Double = 0
        var valid = 0
        for i in 0..<R where targets[i] != ignoreIndex { total += Double(lp[i]); valid += 1 }
        let out = Tensor(scalar: valid > 0 ? Float(total / Double(valid)) : 0)
        if Autograd.needsGrad(logits) {
            Autograd.record(out, inputs: [logits]) { out in
                let g = out.gradStorage!.pointer[0]
                let k = valid > 0 ? g / Float(valid) : 0
                targets.withUnsafeBufferPointer { tp in
                    Parallel.forRanges(R, grain: max(1, 16384 / max(1, V))) { r in
                        for i in r {
                            let p = pp + i * V
                            let t = tp[i]
                            if t == ignoreIndex {
                                for j in 0..<V { p[j] = 0 }
                            } else {
                                VectorMath.scale(p, V, by: k)
                                p[Int(t)] -= k
                            }
                        }
                    }
                }
                logits.accumulateGrad(sharing: probs)
            }
        }
        return out
    }
}

import Foundation
