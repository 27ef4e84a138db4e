import Synchronization

// MARK: - 2-D convolution over images [N, C, H, W] (im2col + cblas_sgemm)

/// How `conv2d` walks a batch: the images fall into ``spanLimit`` contiguous spans, which the
/// workers (one per thread) take in turn; a worker goes through a span in chunks whose im2col
/// `colsT` `[K, n·P]` (~``Im2Col/chunkFloats``) stays in its core's L2 cache, calling
/// single-threaded `cblas_sgemm`. Workers share no buffer and do not wait for each other between
/// products. The weight and bias gradients are per-span partials summed in span order afterwards,
/// so the numbers do not depend on the thread count.
struct ConvBatch {
    /// Spans per batch (at most; fewer when there are fewer images): the parallelism of one
    /// convolution, and the number of weight-gradient partials.
    static let spanLimit = 8

    let g: ConvGeometry
    /// Images in the batch, and output channels.
    let images: Int, outChannels: Int
    /// Spans, workers (threads), and images per chunk at most.
    let spans: Int, workers: Int, chunk: Int
    /// The lane masks of the small-plane im2col paths (nil: the general paths).
    let masks: Im2Col.ShiftMasks?

    init(_ g: ConvGeometry, images N: Int, outChannels O: Int) {
        self.g = g; images = N; outChannels = O
        spans = max(1, min(Self.spanLimit, N))
        workers = Threading.isSerial ? 1 : max(1, min(Threading.count, spans))
        chunk = max(1, min((N + spans - 1) / spans, Im2Col.chunkFloats / max(1, g.patch * g.positions)))
        masks = Im2Col.smallPlanes(g) ? Im2Col.ShiftMasks(g) : nil
    }

    /// Floats of one chunk's `[K, n·P]` and `[O, n·P]` buffers.
    var colsFloats: Int { g.patch * chunk * g.positions }
    var outFloats: Int { outChannels * chunk * g.positions }

    /// Runs `body(worker, span, images)` over every chunk of every span, a span's chunks in order
    /// on one worker. Workers run at once, each serial, with OpenBLAS single-threaded (one worker:
    /// inline, with every thread available to the kernels).
    func run(_ body: (_ worker: Int, _ span: Int, _ images: Range<Int>) -> Void) {
        let next = Atomic<Int>(0)
        func work(_ w: Int) {
            while case let s = next.add(1, ordering: .relaxed).oldValue, s < spans {
                let lo = images * s / spans, hi = images * (s + 1) / spans
                let pieces = (hi - lo + chunk - 1) / chunk
                for i in 0..<pieces { body(w, s, lo + (hi - lo) * i / pieces ..< lo + (hi - lo) * (i + 1) / pieces) }
            }
        }
        if workers == 1 { work(0) } else { Threading.parallelWorkers(workers) { work($0) } }
    }

    /// `out[n, o, p] = y[o, (n − n₀)·P + p] + bias[o]` for the chunk's images: `Y'` `[O, n·P]` back
    /// to `[N, O, P]`.
    func scatter(_ y: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, images r: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let O = outChannels, P = g.positions, nP = r.count * P
        for (i, n) in r.enumerated() {
            for o in 0..<O {
                let src = y + o * nP + i * P, dst = out + (n * O + o) * P, b = bias?[o] ?? 0
                for p in 0..<P { dst[p] = src[p] + b }
            }
        }
    }

    /// The adjoint of `scatter`'s layout change: `dy` `[N, O, P]` → `[O, n·P]` for the chunk.
    func gather(_ dy: UnsafePointer<Float>, images r: Range<Int>, into y: UnsafeMutablePointer<Float>) {
        let O = outChannels, P = g.positions, nP = r.count * P
        for (i, n) in r.enumerated() {
            for o in 0..<O { (y + o * nP + i * P).update(from: dy + (n * O + o) * P, count: P) }
        }
    }
}

extension Tensor {
    /// 2-D convolution: `self` `[N, C, H, W]`, `weight` `[O, C, k, k]`, `bias` `[O]` →
    /// `[N, O, OH, OW]`. Each worker (``ConvBatch``) expands a chunk of its images to `colsT`
    /// `[C·k·k, n·OH·OW]` and computes `Y'[:, chunk] = W·colsT` with `cblas_sgemm`. Backward
    /// recomputes each chunk's colsT (cheaper than keeping N·P·C·k·k floats): `dW += dY'·colsTᵀ`,
    /// `dcolsT = Wᵀ·dY'` folded back onto the chunk's pixels.
    public func conv2d(_ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
        let x = self
        check(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must be [N, C, H, W] and [O, C, k, k]")
        let (N, C, H, W) = (shape[0], shape[1], shape[2], shape[3])
        let O = weight.shape[0], k = weight.shape[2]
        check(weight.shape[1] == C && weight.shape[3] == k, "conv2d: weight \(weight.shape) does not fit \(C) channels with a square kernel")
        check(stride >= 1 && padding >= 0 && H + 2 * padding >= k && W + 2 * padding >= k, "conv2d: kernel \(k) stride \(stride) padding \(padding) on \(H)×\(W)")
        if let bias { check(bias.count == O, "conv2d: bias \(bias.shape) for \(O) output channels") }
        let g = ConvGeometry(channels: C, height: H, width: W, kernel: k, stride: stride, padding: padding)
        let batch = ConvBatch(g, images: N, outChannels: O)
        let out = Tensor(uninitialized: [N, O, g.outHeight, g.outWidth])            // [N, O, OH, OW]
        let cols = Scratch(slots: batch.workers, count: batch.colsFloats)          // colsT [K, n·P] per worker
        let ys = Scratch(slots: batch.workers, count: batch.outFloats)             // Y' [O, n·P] per worker
        let xp = x.data, wp = weight.data, yp = out.data, bp = bias?.data, P = g.positions, K = g.patch
        batch.run { w, _, r in
            Im2Col.expand(xp, images: r, of: N, g, masks: batch.masks, into: cols[w])
            GEMM.sgemm(m: O, n: r.count * P, k: K, a: wp, lda: K, b: cols[w], ldb: r.count * P, c: ys[w], ldc: r.count * P)
            batch.scatter(ys[w], bp, images: r, into: yp)
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        if Autograd.needsGrad(inputs) {
            Autograd.record(out, inputs: inputs) { out in
                conv2dBackward(x, weight, bias, batch, dy: out.gradStorage!.pointer)
            }
        }
        return out
    }
}

/// The backward pass of `conv2d` (see there), chunk by chunk on each worker; weight and bias
/// gradients per span, summed in span order.
private func conv2dBackward(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ batch: ConvBatch, dy: UnsafePointer<Float>) {
    let g = batch.g, O = batch.outChannels, P = g.positions, K = g.patch, workers = batch.workers
    let dys = Scratch(slots: workers, count: batch.outFloats)                        // dY' [O, n·P]
    let cols = Scratch(slots: workers, count: batch.colsFloats)                      // colsT [K, n·P]
    let dcols = Scratch(slots: x.requiresGrad ? workers : 0, count: batch.colsFloats, margin: Im2Col.margin(g))
    let dws = Scratch(slots: weight.requiresGrad ? batch.spans : 0, count: O * K)     // dW [O, K] per span
    let dbs = Scratch(slots: bias?.requiresGrad == true ? batch.spans : 0, count: O, zeroed: true)   // db [O] per span
    let xp = x.data, wp = weight.data, N = batch.images, imageFloats = g.channels * g.height * g.width
    let spanStart = { (s: Int) in N * s / batch.spans }
    let pass = { (dx: UnsafeMutablePointer<Float>?, accumulateX: Bool) in
        batch.run { w, s, r in
            let nP = r.count * P, dyc = dys[w], fresh = r.lowerBound == spanStart(s)
            batch.gather(dy, images: r, into: dyc)
            if dbs.count > 0 { for o in 0..<O { dbs[s][o] += VectorMath.sum(dyc + o * nP, nP) } }
            if dws.count > 0 {                                                    // dW_s (+)= dY'·colsTᵀ
                Im2Col.expand(xp, images: r, of: N, g, masks: batch.masks, into: cols[w])
                GEMM.sgemm(transA: false, transB: true, m: O, n: K, k: nP, a: dyc, lda: nP, b: cols[w], ldb: nP,
                           beta: fresh ? 0 : 1, c: dws[s], ldc: K)
            }
            if let dx {                                                           // dcolsT = Wᵀ·dY', folded onto the pixels
                GEMM.sgemm(transA: true, transB: false, m: K, n: nP, k: O, a: wp, lda: K, b: dyc, ldb: nP, c: dcols[w], ldc: nP)
                Im2Col.fold(dcols[w], images: r.count, g, masks: batch.masks, into: dx + r.lowerBound * imageFloats, accumulate: accumulateX)
            }
        }
    }
    if x.requiresGrad { x.withGradBuffer { dx, acc in pass(dx, acc) } } else { pass(nil, false) }
    if weight.requiresGrad { weight.withGradBuffer { dw, acc in dws.sum(O * K, into: dw, accumulate: acc) } }
    if let bias, bias.requiresGrad { bias.withGradBuffer { db, acc in dbs.sum(O, into: db, accumulate: acc) } }
}

/// Scratch buffers of `count` floats per slot (a worker or a span), with `margin` readable floats
/// on either side.
private struct Scratch {
    let storage: [Storage], margin: Int
    init(slots: Int, count: Int, margin: Int = 0, zeroed: Bool = false) {
        storage = (0..<slots).map { _ in zeroed ? Storage(count: count + 2 * margin, repeating: 0) : Storage(count: count + 2 * margin) }
        self.margin = margin
    }
    var count: Int { storage.count }
    subscript(_ i: Int) -> UnsafeMutablePointer<Float> { storage[i].pointer + margin }

    /// `dst (+)= Σ_i slot[i]`, slots in order (a fixed summation order).
    func sum(_ floats: Int, into dst: UnsafeMutablePointer<Float>, accumulate: Bool) {
        for i in 0..<count {
            let src = self[i]
            if i == 0 && !accumulate { dst.update(from: src, count: floats) } else { for j in 0..<floats { dst[j] += src[j] } }
        }
    }
}
