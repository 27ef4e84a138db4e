import XCTest
import TLLMCore
import TLLMTestSupport

final class GEMMTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    /// sgemm against a naive triple loop for all four transpose combinations, odd sizes, padded
    /// leading dimensions, alpha and beta.
    func testSgemmMatchesNaiveForAllTransposes() {
        let sizes = [(1, 1, 1), (3, 5, 7), (17, 13, 9), (64, 33, 129), (130, 70, 31)]
        for (m, n, k) in sizes {
            for ta in [false, true] {
                for tb in [false, true] {
                    let pad = 3
                    let aRows = ta ? k : m, aCols = ta ? m : k
                    let bRows = tb ? n : k, bCols = tb ? k : n
                    let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
                    let A = GradCheck.random([aRows * lda], seed: 1)
                    let B = GradCheck.random([bRows * ldb], seed: 2)
                    let C = GradCheck.random([m * ldc], seed: 3)
                    let C0 = C.values
                    let alpha: Float = 0.7, beta: Float = 0.3
                    GEMM.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: A.data, lda: lda,
                               b: B.data, ldb: ldb, beta: beta, c: C.data, ldc: ldc)
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = 0.0
                            for p in 0..<k {
                                let a = ta ? A[flat: p * lda + i] : A[flat: i * lda + p]
                                let b = tb ? B[flat: j * ldb + p] : B[flat: p * ldb + j]
                                s += Double(a) * Double(b)
                            }
                            let ref = Double(alpha) * s + Double(beta) * Double(C0[i * ldc + j])
                            worst = max(worst, abs(ref - Double(C[flat: i * ldc + j])))
                        }
                        // Padding columns are untouched.
                        for j in n..<ldc { XCTAssertEqual(C[flat: i * ldc + j], C0[i * ldc + j]) }
                    }
                    XCTAssertLessThan(worst, 1e-4 * Double(k), "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb)")
                }
            }
        }
    }

    /// The fast kernels are in use on a CPU with AVX-512/AVX2 (unless the user chose a core).
    func testFastKernelsSelected() {
        let choice = BLASRuntime.prepare()
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil { return }
        let flags = CPUFeatures.flags
        if flags.contains("avx512f") || flags.contains("avx2") {
            XCTAssertNotEqual(choice.coreName.lowercased(), "prescott", choice.reason)
            XCTAssertFalse(["core2", "penryn", "nehalem", "katmai"].contains(choice.coreName.lowercased()))
        }
        // The environment is left as the user had it.
        XCTAssertNil(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"])
    }

    /// Large products with the selected kernels still agree with the reference.
    func testLargeProductMatchesReference() {
        let m = 257, n = 384, k = 1152
        let A = GradCheck.random([m * k], seed: 4), B = GradCheck.random([n * k], seed: 5)
        let C = Tensor(zeros: [m * n])
        GEMM.sgemm(transB: true, m: m, n: n, k: k, a: A.data, lda: k, b: B.data, ldb: k, c: C.data, ldc: n)
        for (i, j) in [(0, 0), (128, 200), (256, 383), (17, 5)] {
            var s = 0.0
            for p in 0..<k { s += Double(A[flat: i * k + p]) * Double(B[flat: j * k + p]) }
            XCTAssertEqual(Double(C[flat: i * n + j]), s, accuracy: 1e-3)
        }
    }
}
