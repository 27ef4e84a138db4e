import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

extension QuantType: ArgumentValue {
    public static func parse(_ text: String) -> QuantType? { QuantType(name: text) }
    public static var expected: String { "one of: " + choices!.joined(separator: ", ") }
    public static var choices: [String]? { QuantType.allCases.map(\.description) }
    public var helpText: String { description }
}

struct QuantizeCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "quantize",
        summary: "write a tllm model as a GGUF file with quantized weights (q8_0, q4_1, q4_0, bf16, f16, f32)",
        usage: "--model DIR --to q8_0 [-o OUT.gguf]",
        discussion: "The result runs with tllm generate / eval / bench generate --model OUT.gguf, and opens in llama.cpp.\nGPT-2-style models are written as the gpt2 architecture, Llama-style ones (rmsnorm, swiglu, rope) as llama.")

    @Option("--model", "DIR", help: "a run folder or model directory") var model: String?
    @Option("--to", "TYPE", help: "weight type of the matrices") var to = QuantType.q8_0
    @Option("-o", "OUT", aliases: ["--output"], help: "GGUF file to write (must not exist)", defaultDescription: "DIR/model-TYPE.gguf") var out: String?

    func run() throws {
        guard let model else { throw CLIError("tllm quantize: --model DIR is required") }
        let (m, c, dir) = try ModelStore.load(URL(fileURLWithPath: model))
        guard let gpt = m as? GPTModel else { throw CLIError("tllm quantize: this is a \(c.architecture) model; GGUF export needs a GPT") }
        let tok = try ModelStore.tokenizer(for: dir, vocabularySize: c.vocabSize)
        let target = URL(fileURLWithPath: out ?? URL(fileURLWithPath: model).appendingPathComponent("model-\(to).gguf").path)
        guard !FileManager.default.fileExists(atPath: target.path) else {
            throw TLLMError("already exists; choose another -o (tllm does not overwrite files)", file: target.path)
        }
        let t0 = Clock.now()
        try GGUFExport.write(gpt, tokenizer: tok, type: to, name: URL(fileURLWithPath: model).lastPathComponent, to: target)
        let size = (try? FileManager.default.attributesOfItem(atPath: target.path)[.size] as? Int) ?? 0
        Log.info(String(format: "wrote %@ (%@, %.1f MB) in %.1f s", target.path, to.description, Double(size ?? 0) / 1e6, Clock.now() - t0))
    }
}

struct InfoCommand: ParsableCommand {
    static let info = CommandInfo(name: "info", summary: "what a model is: architecture, parameters, tensor types, tokenizer, memory",
                                  usage: "MODEL (a run folder, model directory or .gguf file) [--json]")

    @Positionals("MODEL") var models: [String]
    let output = OutputOptions()

    func run() throws {
        guard models.count == 1 else { throw CLIError("tllm info: give one model") }
        let url = URL(fileURLWithPath: models[0])
        let b = try ModelBundle.open(url)
        let c = b.config
        var types: [String: Int] = [:]
        var weightBytes = 0
        if let g = b.model as? GGUFLanguageModel {
            for t in g.file.tensors { types[t.type.description, default: 0] += 1; weightBytes += t.byteCount }
        } else {
            types["f32"] = c.parameters > 0 ? 1 : 0
            weightBytes = 4 * c.parameters
        }
        let kind = b.model is GGUFLanguageModel ? "GGUF (\((b.model as! GGUFLanguageModel).architecture))" : "tllm"
        let facts: [(String, Any)] = [
            ("file", url.path), ("format", kind), ("layers", c.layers), ("d_model", c.dModel), ("heads", c.heads), ("kv_heads", c.kvHeads),
            ("mlp_hidden", c.mlpHidden), ("context", c.context), ("vocab_size", c.vocabSize), ("norm", c.norm.rawValue),
            ("activation", c.activation.rawValue), ("positions", c.positions.rawValue + (c.positions == .rope ? " (\(c.ropeStyle.rawValue), base \(c.ropeBase))" : "")),
            ("tied_embeddings", c.tiedEmbeddings), ("parameters", c.parameters),
            ("tensor_types", types.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")),
            ("weight_bytes", weightBytes),
            ("tokenizer", "\(b.tokenizer.name): \(b.tokenizer.vocabularySize) tokens, \(b.tokenizer.pattern.rawValue) pre-tokenizer, \(b.tokenizer.specialTokens.count) special"),
            ("chat_template", b.chatTemplate != nil ? "ChatML" : "none"),
        ]
        if output.json { printJSON(Dictionary(uniqueKeysWithValues: facts)); return }
        let width = facts.map(\.0.count).max()! + 2
        for (k, v) in facts {
            let value = k == "parameters" ? "\(formatCount(c.parameters)) (\(v))" : k == "weight_bytes" ? String(format: "%.1f MB", Double(weightBytes) / 1e6) : "\(v)"
            print(k.padding(toLength: width, withPad: " ", startingAt: 0) + value)
        }
    }
}

struct BenchQuantCommand: ParsableCommand {
    static let info = CommandInfo(name: "bench quant", summary: "time the quantized matrix–vector kernels (GB/s of weights, GFLOP/s) per type and SIMD path",
                                  usage: "[--rows 1536 --cols 576] [--json]")

    @Option("--rows", "N", help: "matrix rows (outputs)", .positive) var rows = 1536
    @Option("--cols", "N", help: "matrix columns (inputs, a multiple of 32)", .positive) var cols = 576
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        guard cols % 32 == 0 else { throw CLIError("tllm bench quant: --cols must be a multiple of 32") }
        let shapes = [(rows, cols), (32 * rows, cols)]
        let r = QuantBenchmark.run(types: [.q4_1, .q4_0, .q8_0, .bf16, .f32], shapes: shapes)
        if output.json { printJSON(encodable: r); return }
        print("CPU: \(CPUFeatures.modelName); threads: \(Threading.count)")
        print(formatTable(["type", "path", "x", "rows×cols", "µs", "weights GB/s", "GFLOP/s"], r.map {
            [$0.type, $0.path, $0.activations, "\($0.rows)×\($0.cols)", String(format: "%.1f", $0.microseconds), String(format: "%.1f", $0.gigabytesPerSecond),
             String(format: "%.1f", $0.gflops)]
        }), terminator: "")
    }
}
