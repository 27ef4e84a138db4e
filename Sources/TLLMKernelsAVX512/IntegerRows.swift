// The row loops of the 4-bit integer kernels, shared by both builds (TLLMKernelsAVX2 has a
// symlink to this file): each build supplies its own `rowQ4` for its instruction set.

#if arch(x86_64)
extension IntegerKernels {
    /// Q4_1 rows `rows` of W (blocks of 20 bytes: d, m, 16 bytes of nibbles). `xg` is x regrouped
    /// (TLLMCore's `QuantDispatch.regroup`: per unit of 4 blocks, their first halves, then their second halves).
    public static func gemvQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int, xq: UnsafePointer<Int8>,
                                xg: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        for r in rows {
            y[r] = rowQ4(w + r * rowBytes, blockBytes: 20, minimum: true, blocks: blocks, xq: xq, xg: xg, xd: xd, xs: xs)
        }
    }

    /// Q4_0 rows (blocks of 18 bytes: d, 16 bytes of nibbles; w = d·(q − 8)).
    public static func gemvQ4_0(_ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>, blocks: Int, xq: UnsafePointer<Int8>,
                                xg: UnsafePointer<Int8>, xd: UnsafePointer<Float>, xs: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        for r in rows {
            y[r] = rowQ4(w + r * rowBytes, blockBytes: 18, minimum: false, blocks: blocks, xq: xq, xg: xg, xd: xd, xs: xs)
        }
    }
}
#endif
