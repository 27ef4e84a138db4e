/// Writes `v` to `p[i]`, or adds it when `accumulate` (the gradient buffer already holds values).
@inline(__always)
public func put(_ p: UnsafeMutablePointer<Float>, _ i: Int, _ v: Float, _ accumulate: Bool) {
    if accumulate { p[i] += v } else { p[i] = v }
}

/// Column sums of a `rows × cols` row-major matrix, written to or added into `dst[cols]`.
/// Parallel over columns: each output is summed over rows in order, for any thread count.
public func columnSums(_ src: UnsafePointer<Float>, rows: Int, cols: Int,
                into dst: UnsafeMutablePointer<Float>, accumulate: Bool) {
    Parallel.forRanges(cols, grain: max(16, 4096 / max(1, rows))) { r in
        let width = r.count
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { acc.deallocate() }
        acc.initialize(repeating: 0, count: width)
        for i in 0..<rows {
            let row = src + i * cols + r.lowerBound
            for j in 0..<width { acc[j] += row[j] }
        }
        for j in 0..<width { put(dst, r.lowerBound + j, acc[j], accumulate) }
    }
}

/// Shape checks with a readable message. (`fatalError`, not `precondition`: it stays in
/// `-Ounchecked` release builds.)
@inline(__always)
public func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
