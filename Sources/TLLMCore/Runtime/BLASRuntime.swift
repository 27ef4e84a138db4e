import CBLAS
import Foundation

/// The OpenBLAS runtime: which kernel family is in use, how many threads it runs.
///
/// Debian's OpenBLAS 0.3.21 is a `DYNAMIC_ARCH` build that picks a kernel family once, from the
/// CPU id, when the library loads. On processors newer than the library (a recent Xeon with
/// AVX-512, for instance) it silently falls back to its oldest family, `Prescott`, which runs
/// `sgemm` 5–6× slower. ``BLASRuntime/prepare()`` redoes the selection in-process with the family
/// that matches the CPU's instruction set — unless the user set `OPENBLAS_CORETYPE` themselves,
/// which is always respected.
public enum BLASRuntime {
    /// How the kernel family was chosen, for `tllm bench gemm` and logs.
    public struct KernelChoice: Sendable, Codable {
        /// The core name OpenBLAS reports now (`openblas_get_corename()`).
        public var coreName: String
        /// The core name OpenBLAS picked by itself, before tllm looked.
        public var detectedCoreName: String
        /// Why the current family is in use.
        public var reason: String
    }

    private static let choiceOnce: KernelChoice = {
        let c = selectKernels()
        shortenThreadTimeout()
        return c
    }()

    /// The spin timeout tllm gives OpenBLAS's idle worker threads (2^value cycles), unless the user
    /// set `OPENBLAS_THREAD_TIMEOUT`.
    public static let threadTimeout = 4

    /// Restarts OpenBLAS's thread pool so that idle workers sleep almost at once instead of spinning
    /// for ~0.1 s (the library default, 2^28 cycles) while tllm's own kernels need the cores.
    private static func shortenThreadTimeout() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] == nil else { return }
        restartThreadPool(timeout: threadTimeout)
    }

    nonisolated(unsafe) private static var currentTimeout = 0
    nonisolated(unsafe) private static var spinningDepth = 0

    private static func restartThreadPool(timeout: Int) {
        guard timeout != currentTimeout else { return }
        blas_thread_shutdown_()
        setenv("OPENBLAS_THREAD_TIMEOUT", String(timeout), 1)
        openblas_read_env()
        unsetenv("OPENBLAS_THREAD_TIMEOUT")
        blas_thread_init()
        currentTimeout = timeout
    }

    /// Runs `body` with OpenBLAS's idle workers spinning for 2^`timeout` cycles between calls: for
    /// streams of small BLAS calls with little else in between (batch-1 decoding), where waking a
    /// sleeping worker for every matrix–vector product would cost more than the product.
    public static func withSpinningThreads<T>(timeout: Int = 20, _ body: () throws -> T) rethrows -> T {
        prepare()
        guard ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] == nil, Threading.count > 1 else { return try body() }
        if spinningDepth == 0 { restartThreadPool(timeout: timeout) }
        spinningDepth += 1
        defer {
            spinningDepth -= 1
            if spinningDepth == 0 { restartThreadPool(timeout: threadTimeout) }
        }
        return try body()
    }

    /// Selects fast kernels (once per process) and applies the thread setting. Idempotent and cheap.
    @discardableResult
    public static func prepare() -> KernelChoice {
        let choice = choiceOnce
        _ = Threading.configured
        return choice
    }

    /// The current OpenBLAS core name.
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// Kernel families OpenBLAS falls back to when it does not recognise a processor.
    static let genericCores: Set<String> = [
        "prescott", "katmai", "coppermine", "northwood", "banias", "core2", "penryn",
        "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "unknown",
    ]

    private static func selectKernels() -> KernelChoice {
        let detected = coreName
        if let user = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !user.isEmpty {
            return KernelChoice(coreName: detected, detectedCoreName: detected,
                                reason: "OPENBLAS_CORETYPE=\(user) set by the user")
        }
        guard genericCores.contains(detected.lowercased()) else {
            return KernelChoice(coreName: detected, detectedCoreName: detected,
                                reason: "detected by OpenBLAS")
        }
        let flags = CPUFeatures.flags
        let target: String?
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) {
            target = "SkylakeX"
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            target = "Haswell"
        } else if flags.contains("avx") {
            target = "SandyBridge"
        } else {
            target = nil
        }
        guard let target else {
            return KernelChoice(coreName: detected, detectedCoreName: detected,
                                reason: "generic core detected; the CPU has no AVX, kept")
        }
        // Redo OpenBLAS's start-up selection with the family forced, then restore the environment
        // so that child processes see what the user set (nothing).
        gotoblas_dynamic_quit()
        setenv("OPENBLAS_CORETYPE", target, 1)
        gotoblas_dynamic_init()
        unsetenv("OPENBLAS_CORETYPE")
        let now = coreName
        return KernelChoice(coreName: now, detectedCoreName: detected,
                            reason: "OpenBLAS fell back to \(detected); tllm selected \(target) from the CPU flags")
    }
}

/// CPU features read from `/proc/cpuinfo` (Linux).
public enum CPUFeatures {
    /// The `flags` line of the first processor, as a set.
    public static let flags: Set<String> = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            if let colon = line.firstIndex(of: ":") {
                return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
            }
        }
        return []
    }()

    /// The `model name` line, for reports.
    public static let modelName: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }()
}
