import CBLAS
import Dispatch
import Foundation

/// One thread count for the whole process: OpenBLAS's threads and tllm's row-parallel kernels.
///
/// The default is every core, or `TLLM_THREADS` when set; `--threads N` overrides both.
/// Elementwise kernels and BLAS calls never run at the same time, so the two pools share the cores
/// without oversubscription.
public enum Threading {
    nonisolated(unsafe) private static var current: Int = 0

    static let configured: Bool = {
        if current == 0 { apply(defaultCount) }
        return true
    }()

    /// The default count: `TLLM_THREADS`, else the number of active cores.
    public static var defaultCount: Int {
        if let s = ProcessInfo.processInfo.environment["TLLM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The number of threads kernels use.
    public static var count: Int {
        _ = configured
        return current
    }

    /// Sets the thread count for OpenBLAS and tllm's kernels.
    public static func set(_ n: Int) {
        _ = BLASRuntime.prepare()
        apply(max(1, n))
    }

    private static func apply(_ n: Int) {
        current = n
        openblas_set_num_threads(Int32(n))
    }

    /// OpenBLAS's own report of its thread count.
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }
}

/// Row-parallel loops over `DispatchQueue.concurrentPerform`.
///
/// Work is split into contiguous ranges whose boundaries do not affect results: every kernel that
/// uses this writes disjoint outputs per index, so results are identical for any thread count.
public enum Parallel {
    /// The number of ranges ``forRanges(_:grain:_:)`` uses for `count` items (one on a thread
    /// inside ``Threading/serially(_:)``).
    @inline(__always)
    public static func chunkCount(_ count: Int, grain: Int = 1) -> Int {
        if count <= 0 { return 0 }
        if Threading.isSerial { return 1 }
        return min(Threading.count, max(1, count / max(1, grain)))
    }

    /// Runs `body(chunk, range)` over `0..<count` split into ``chunkCount(_:grain:)`` contiguous
    /// ranges; chunk indices are distinct, so they can index per-worker scratch space.
    @inline(__always)
    public static func forChunks(_ count: Int, grain: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count, grain: grain)
        if chunks == 0 { return }
        if chunks == 1 {
            body(0, 0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks
            let hi = count * (c + 1) / chunks
            if lo < hi { body(c, lo..<hi) }
        }
    }

    /// Runs `body` over `0..<count` split into at most `Threading.count` ranges of at least
    /// `grain` items each; small loops run inline on the calling thread.
    @inline(__always)
    public static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        forChunks(count, grain: grain) { _, r in body(r) }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, spreading indices over the threads.
    @inline(__always)
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Int) -> Void) {
        forRanges(count, grain: grain) { r in for i in r { body(i) } }
    }
}

extension Threading {
    /// Runs `body` with OpenBLAS single-threaded, for regions that call sgemm from several of
    /// tllm's own threads at once (attention over (batch, head) pairs).
    @inline(__always)
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        if isSerial { return try body() }  // already single-threaded (data-parallel workers)
        let n = count
        if n > 1 { openblas_set_num_threads(1) }
        defer { if n > 1 { openblas_set_num_threads(Int32(n)) } }
        return try body()
    }
}

// MARK: - Serial regions (data-parallel workers)

private let serialKey: pthread_key_t = {
    var k = pthread_key_t()
    pthread_key_create(&k, nil)
    return k
}()

extension Threading {
    /// Whether the calling thread runs its kernels serially (inside ``serially(_:)``).
    @inline(__always)
    public static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Runs `body` with this thread's kernels serial; used by workers that each own a core
    /// (OpenBLAS must be single-threaded meanwhile: see ``parallelWorkers(_:_:)``).
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let was = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, was) }
        return try body()
    }

    /// Runs `body(k)` for `k` in `0..<n` on `n` threads at once, each serial, with OpenBLAS
    /// single-threaded: data parallelism across cores for models too small to split one product.
    public static func parallelWorkers(_ n: Int, _ body: (Int) -> Void) {
        let threads = count
        if threads > 1 { openblas_set_num_threads(1) }
        defer { if threads > 1 { openblas_set_num_threads(Int32(threads)) } }
        DispatchQueue.concurrentPerform(iterations: n) { k in serially { body(k) } }
    }
}
