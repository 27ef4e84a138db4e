import Foundation
import TLLMCore
import TLLMEvaluation
import TLLMModels
import TLLMTokenizer
import TLLMTraining

/// Writes decoded bytes as they become valid UTF-8 (a token can end inside a character).
struct StreamingPrinter {
    var pending: [UInt8] = []
    mutating func write(_ bytes: [UInt8]) {
        pending += bytes
        guard !pending.isEmpty else { return }
        var cut = pending.count
        // Hold back an incomplete trailing sequence (at most 3 bytes).
        for back in 1...min(3, pending.count) {
            let b = pending[pending.count - back]
            if b & 0xC0 == 0xC0 {  // a lead byte: is its sequence complete?
                let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                if back < need { cut = pending.count - back }
                break
            }
            if b & 0x80 == 0 { break }
        }
        FileHandle.standardOutput.write(Data(pending[..<cut]))
        pending.removeFirst(cut)
    }
    mutating func flush() { FileHandle.standardOutput.write(Data(pending)); pending = [] }
}

enum GenerateCommand: Command {
    static let spec = CommandSpec(
        name: "generate",
        summary: "generate text from a trained model (KV cache, streamed as it comes)",
        usage: "--model DIR [--prompt TEXT] [--max-tokens 200] [--temperature 0.8] [--top-k 200] [--top-p 1] [--seed S]",
        options: [
            OptionSpec(name: "--model", value: "DIR", help: "a run folder or model directory"),
            OptionSpec(name: "--prompt", value: "TEXT", help: "text to continue (\\n for newlines)", defaultValue: ""),
            OptionSpec(name: "--max-tokens", value: "N", help: "tokens to generate", defaultValue: "200"),
            OptionSpec(name: "--temperature", value: "T", help: "0 = greedy", defaultValue: "0.8"),
            OptionSpec(name: "--top-k", value: "K", help: "sample from the K most likely (0 = all)", defaultValue: "200"),
            OptionSpec(name: "--top-p", value: "P", help: "nucleus sampling threshold", defaultValue: "1"),
            OptionSpec(name: "--seed", value: "S", help: "sampling seed", defaultValue: "1"),
            OptionSpec(name: "--samples", value: "N", help: "number of samples", defaultValue: "1"),
            OptionSpec(name: "--vocab", value: "V", help: "override the model's tokenizer.json"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
            OptionSpec(name: "--json", value: nil, help: "print {prompt, completions, tokens_per_s} as JSON instead of streaming"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let dir = args.string("--model") else { throw CLIError("tllm generate: --model DIR is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: dir), vocabulary: args.string("--vocab"))
        let tok = bundle.tokenizer
        let prompt = (args.string("--prompt") ?? "").replacingOccurrences(of: "\\n", with: "\n")
        var ids = tok.encode(prompt)
        let eot = tok.specialID("<|endoftext|>")
        if ids.isEmpty { ids = [eot ?? 0] }
        let temperature = Float(try args.double("--temperature", default: 0.8))
        guard temperature >= 0 else { throw CLIError("tllm generate: --temperature must be ≥ 0") }
        let topP = Float(try args.double("--top-p", default: 1))
        guard topP > 0 && topP <= 1 else { throw CLIError("tllm generate: --top-p must be in (0, 1]") }
        let topK = try args.int("--top-k", default: 200)
        guard topK >= 0 else { throw CLIError("tllm generate: --top-k must be ≥ 0 (0 = all tokens)") }
        let options = SamplingOptions(temperature: temperature, topK: topK, topP: topP)
        let maxTokens = try args.int("--max-tokens", default: 200)
        guard maxTokens >= 1 else { throw CLIError("tllm generate: --max-tokens must be ≥ 1") }
        let seed = try args.seed(default: 1)
        let sampleCount = try args.int("--samples", default: 1)
        guard sampleCount >= 1 else { throw CLIError("tllm generate: --samples must be ≥ 1") }
        let gen = Generator(model: bundle.model)
        var completions: [String] = []
        var totalTokens = 0
        let t0 = Clock.now()
        for k in 0..<sampleCount {
            var printer = StreamingPrinter()
            if !args.has("--json") {
                if k > 0 { print("\n---") }
                printer.write(Array(prompt.utf8))
            }
            let out = gen.generate(prompt: ids, maxTokens: maxTokens, options: options, seed: seed &+ UInt64(k),
                                   stopAt: eot.map { [$0] } ?? []) { t in
                if !args.has("--json") && t != eot { printer.write(tok.bytes(of: t)) }
                return true
            }
            printer.flush()
            totalTokens += out.count
            completions.append(tok.decode(out.filter { $0 != eot }))
        }
        let dt = Clock.now() - t0
        if args.has("--json") {
            printJSON(["prompt": prompt, "completions": completions, "tokens": totalTokens, "tokens_per_s": Double(totalTokens) / dt])
        } else {
            print("")
            Log.info(String(format: "%d tokens in %.2f s (%.0f tokens/s)", totalTokens, dt, Double(totalTokens) / dt))
        }
    }
}

enum EvalPerplexityCommand: Command {
    static let spec = CommandSpec(
        name: "eval perplexity",
        summary: "loss, perplexity and bits per byte of a model on any text",
        usage: "--model DIR FILE [--json]",
        options: [
            OptionSpec(name: "--model", value: "DIR", help: "a run folder or model directory"),
            OptionSpec(name: "--window", value: "T", help: "window length (default: the model's context)"),
            OptionSpec(name: "--vocab", value: "V", help: "override the model's tokenizer.json"),
            OptionSpec(name: "--threads", value: "N", help: "threads"),
            OptionSpec(name: "--json", value: nil, help: "print {tokens, loss, perplexity, bits_per_byte} as JSON"),
        ])

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let dir = args.string("--model") else { throw CLIError("tllm eval perplexity: --model DIR is required") }
        guard args.positionals.count == 1 else { throw CLIError("tllm eval perplexity: give one text FILE") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: dir), vocabulary: args.string("--vocab"))
        let text = try TextFiles.readUTF8(args.positionals[0])
        let progress = ProgressDisplay()
        let r = Perplexity.evaluate(model: bundle.model, tokenizer: bundle.tokenizer, text: text, window: try args.int("--window")) { done, total in
            progress.update("windows \(done)/\(total)")
        }
        progress.finish()
        if args.has("--json") { printJSON(encodable: r); return }
        print("file:           \(args.positionals[0])")
        print("tokens:         \(r.tokens) (\(r.bytes) bytes)")
        print(String(format: "loss:           %.4f nats/token", r.loss))
        print(String(format: "perplexity:     %.2f", r.perplexity))
        print(String(format: "bits per byte:  %.4f", r.bitsPerByte))
    }
}

enum ExportCommand: Command {
    static let spec = CommandSpec(
        name: "export",
        summary: "export a model for other tools (HuggingFace transformers GPT-2 folder)",
        usage: "--format hf --model DIR -o OUT",
        options: [
            OptionSpec(name: "--format", value: "F", help: "hf (GPT2LMHeadModel + tokenizer.json)", defaultValue: "hf"),
            OptionSpec(name: "--model", value: "DIR", help: "a run folder or model directory"),
            OptionSpec(name: "-o", value: "OUT", help: "output folder"),
            OptionSpec(name: "--output", value: "OUT", help: "same as -o"),
        ],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        guard args.string("--format", default: "hf") == "hf" else { throw CLIError("tllm export: --format must be hf") }
        guard let dir = args.string("--model") else { throw CLIError("tllm export: --model DIR is required") }
        guard let out = args.string("-o") ?? args.string("--output") else { throw CLIError("tllm export: -o OUT is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: dir))
        guard let gpt = bundle.model as? GPTModel else { throw CLIError("tllm export: --format hf needs a tllm GPT") }
        try HuggingFaceExport.export(model: gpt, tokenizer: bundle.tokenizer, to: URL(fileURLWithPath: out))
        Log.info("wrote \(out): config.json, model.safetensors, tokenizer.json (load with GPT2LMHeadModel.from_pretrained)")
    }
}

enum BenchGenerateCommand: Command {
    static let spec = CommandSpec(
        name: "bench generate",
        summary: "time KV-cache generation at batch 1 (tokens/s)",
        usage: "[--vocab-size V --layers L --d-model D --heads H --context T] [--tokens N] [--json]",
        options: benchArchOptions + [OptionSpec(name: "--tokens", value: "N", help: "tokens to generate", defaultValue: "200")],
        allowsPositionals: false)

    static func run(_ args: Arguments) throws {
        BLASRuntime.prepare()
        if let t = try args.int("--threads") { Threading.set(t) }
        let c = try benchConfig(args)
        let r = try GenerateBenchmark.run(config: c, tokens: try args.int("--tokens", default: 200))
        if args.has("--json") { printJSON(encodable: r); return }
        print(String(format: "%@ parameters: %d tokens in %.3f s = %.0f tokens/s (batch 1, KV cache), peak RSS %.2f GiB",
                     formatCount(r.parameters), r.tokens, r.seconds, r.tokensPerSecond, Double(r.peakRSSBytes) / Double(1 << 30)))
    }
}
