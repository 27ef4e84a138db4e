// swift-tools-version:6.0
//
// tllm — train, evaluate and study small language models on a CPU.
// No Swift package dependencies: the standard library, Foundation, Dispatch and XCTest,
// plus two C libraries from Debian (OpenBLAS and utf8proc) as system-library targets.

import Foundation
import PackageDescription

/// Release builds are tuned for the machine that builds them (`-target-cpu native`: AVX2/AVX-512
/// vector code for tllm's own kernels, which is how `make train` and `make test` use them).
/// Set `TLLM_PORTABLE=1` to build a binary for any x86-64 / arm64 CPU instead.
let portable = ProcessInfo.processInfo.environment["TLLM_PORTABLE"] != nil
let cpuFlags = portable ? [] : ["-target-cpu", "native"]

/// Release builds of the numerical targets also drop overflow checks inside kernels.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"] + cpuFlags, .when(configuration: .release)),
]
let tuned: [SwiftSetting] = [.unsafeFlags(cpuFlags, .when(configuration: .release))]

/// The quantized SIMD kernels are one source compiled for two instruction sets (x86-64); TLLMCore
/// picks one at run time from the CPU's flags, so one binary runs on AVX2 and AVX-512 machines.
#if arch(x86_64)
func kernelSettings(_ cpu: String) -> [SwiftSetting] {
    [.unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-target-cpu", cpu], .when(configuration: .release)),
     .unsafeFlags(["-target-cpu", cpu], .when(configuration: .debug))]
}
#else
func kernelSettings(_ cpu: String) -> [SwiftSetting] { fast }
#endif

let package = Package(
    name: "tllm",
    products: [
        .executable(name: "tllm", targets: ["tllm"]),
        .library(name: "TLLMCore", targets: ["TLLMCore"]),
        .library(name: "TLLMTokenizer", targets: ["TLLMTokenizer"]),
        .library(name: "TLLMData", targets: ["TLLMData"]),
        .library(name: "TLLMModels", targets: ["TLLMModels"]),
        .library(name: "TLLMDictionary", targets: ["TLLMDictionary"]),
        .library(name: "TLLMContrastive", targets: ["TLLMContrastive"]),
        .library(name: "TLLMTraining", targets: ["TLLMTraining"]),
        .library(name: "TLLMEvaluation", targets: ["TLLMEvaluation"]),
        .library(name: "TLLMScaling", targets: ["TLLMScaling"]),
        .library(name: "TLLMPlot", targets: ["TLLMPlot"]),
    ],
    targets: [
        // MARK: - C libraries (Debian: libopenblas-dev, libutf8proc-dev)
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CUTF8Proc", providers: [.apt(["libutf8proc-dev"])]),

        // MARK: - Libraries, lowest first
        .target(name: "TLLMKernelsAVX2", swiftSettings: kernelSettings("haswell")),
        .target(name: "TLLMKernelsAVX512", swiftSettings: kernelSettings("cascadelake")),
        .target(name: "TLLMCore", dependencies: ["CBLAS", "TLLMKernelsAVX2", "TLLMKernelsAVX512"], swiftSettings: fast),
        .target(name: "TLLMTokenizer", dependencies: ["CUTF8Proc", "TLLMCore"], swiftSettings: fast),
        .target(name: "TLLMData", dependencies: ["TLLMCore", "TLLMTokenizer"], swiftSettings: fast),
        .target(name: "TLLMDictionary", dependencies: ["TLLMCore", "CBLAS"], swiftSettings: fast),
        .target(name: "TLLMContrastive", dependencies: ["TLLMCore"], swiftSettings: fast),
        .target(name: "TLLMModels", dependencies: ["TLLMCore", "TLLMTokenizer"], swiftSettings: fast),
        .target(name: "TLLMTraining", dependencies: ["TLLMModels", "TLLMData", "TLLMDictionary", "TLLMContrastive"], swiftSettings: fast),
        .target(name: "TLLMEvaluation", dependencies: ["TLLMModels", "TLLMData"], swiftSettings: fast),
        .target(name: "TLLMPlot", dependencies: [], swiftSettings: tuned),
        .target(name: "TLLMScaling", dependencies: ["TLLMTraining", "TLLMPlot"], swiftSettings: fast),

        // MARK: - The command-line program (thin: typed options per command, calls the libraries)
        .target(
            name: "TLLMCLI",
            dependencies: ["TLLMCore", "TLLMTokenizer", "TLLMData", "TLLMModels", "TLLMTraining", "TLLMDictionary", "TLLMContrastive",
                           "TLLMEvaluation", "TLLMScaling", "TLLMPlot"],
            swiftSettings: tuned),
        .executableTarget(name: "tllm", dependencies: ["TLLMCLI"], swiftSettings: tuned),

        // MARK: - Tests, one target per library, with shared helpers (gradient checks, references)
        .target(name: "TLLMTestSupport", dependencies: ["TLLMCore"], path: "Tests/Support"),
        .testTarget(name: "TLLMCoreTests", dependencies: ["TLLMCore", "TLLMTestSupport"]),
        .testTarget(name: "TLLMTokenizerTests", dependencies: ["TLLMTokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "TLLMDataTests", dependencies: ["TLLMData", "TLLMTestSupport"]),
        .testTarget(name: "TLLMDictionaryTests", dependencies: ["TLLMDictionary", "TLLMData", "TLLMTestSupport"]),
        .testTarget(name: "TLLMContrastiveTests", dependencies: ["TLLMContrastive", "TLLMData", "TLLMTestSupport"]),
        .testTarget(name: "TLLMModelsTests", dependencies: ["TLLMModels", "TLLMTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TLLMTrainingTests", dependencies: ["TLLMTraining", "TLLMTestSupport"]),
        .testTarget(name: "TLLMEvaluationTests", dependencies: ["TLLMEvaluation", "TLLMTestSupport"]),
        .testTarget(name: "TLLMScalingTests", dependencies: ["TLLMScaling", "TLLMTraining"]),
        .testTarget(name: "TLLMPlotTests", dependencies: ["TLLMPlot"]),
        .testTarget(name: "TLLMCLITests", dependencies: ["TLLMCLI"]),
    ],
    swiftLanguageModes: [.v5]
)
