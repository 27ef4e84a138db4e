import Foundation
import TLLMCore

enum BenchGEMMCommand: Command {
    static let spec = CommandSpec(
        name: "bench gemm",
        summary: "measure cblas_sgemm GFLOP/s for square sizes and transformer shapes",
        usage: "[--tokens N] [--d-model D] [--vocab-size V] [--threads N] [--json]",
        options: [
            OptionSpec(name: "--tokens", value: "N", help: "rows of the transformer products (batch × context)", defaultValue: "4096"),
            OptionSpec(name: "--d-model", value: "D", help: "model width", defaultValue: "384"),
            OptionSpec(name: "--vocab-size", value: "V", help: "vocabulary for the LM-head product", defaultValue: "8192"),
            OptionSpec(name: "--threads", value: "N", help: "threads for OpenBLAS and tllm kernels"),
            OptionSpec(name: "--json", value: nil, help: "print one JSON object on stdout"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        let choice = BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        let results = GEMMBenchmark.standardSuite(tokens: try args.int("--tokens", default: 4096),
                                                  dModel: try args.int("--d-model", default: 384),
                                                  vocab: try args.int("--vocab-size", default: 8192))
        let peak = GEMMBenchmark.peak(results)
        if args.has("--json") {
            let rows: [[String: Any]] = results.map {
                ["label": $0.label, "m": $0.m, "n": $0.n, "k": $0.k, "trans_a": $0.transA, "trans_b": $0.transB,
                 "gflops": $0.gflops]
            }
            printJSON(["core": choice.coreName, "detected_core": choice.detectedCoreName, "reason": choice.reason,
                       "threads": Threading.count, "cpu": CPUFeatures.modelName, "peak_gflops": peak, "results": rows])
            return
        }
        print("OpenBLAS core: \(choice.coreName) (\(choice.reason))")
        print("CPU: \(CPUFeatures.modelName); threads: \(Threading.count)\n")
        let table = results.map { r in
            [r.label, "\(r.m)×\(r.n)×\(r.k)", (r.transA ? "T" : "N") + (r.transB ? "T" : "N"), String(format: "%.1f", r.gflops)]
        }
        print(formatTable(["product", "m×n×k", "op", "GFLOP/s"], table), terminator: "")
        print(String(format: "\npeak: %.1f GFLOP/s", peak))
    }
}
