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

public struct GenerateCommand: ParsableCommand {
    public init() {}
    public static let info = CommandInfo(
        name: "generate",
        summary: "generate text from a trained model or a GGUF file (KV cache, streamed as it comes)",
        usage: "--model DIR|FILE.gguf [--prompt TEXT] [--chat] [--max-tokens 200] [--temperature 0.8] [--top-k 200] [--top-p 1] [--seed S] [--logprobs K --json]")
    /// The sampling settings the flags ask for.
    public var sampling: SamplingOptions { SamplingOptions(temperature: temperature, topK: topK, topP: topP) }

    @Option("--model", "DIR", help: "a run folder, model directory or .gguf file") var model: String?
    @Option("--prompt", "TEXT", help: "text to continue (\\n for newlines)") var prompt = ""
    @Flag("--chat", help: "wrap the prompt in the model's chat template (a user turn, then the assistant's)") var chat: Bool
    @Option("--system", "TEXT", help: "with --chat: the system message", defaultDescription: "the template's") var system: String?
    @Option("--max-tokens", "N", help: "tokens to generate", .positive) var maxTokens = 200
    @Option("--temperature", "T", help: "0 = greedy", .nonNegative) var temperature: Float = 0.8
    @Option("--top-k", "K", help: "sample from the K most likely (0 = all)", .nonNegative) var topK = 200
    @Option("--top-p", "P", help: "nucleus sampling threshold", .unitInterval) var topP: Float = 1
    @Option("--seed", "S", help: "sampling seed") var seed: UInt64 = 1
    @Option("--samples", "N", help: "number of samples", .positive) var samples = 1
    @Option("--logprobs", "K", help: "with --json: each token's log-probability and the K most likely candidates", .nonNegative) var logprobs = 0
    @Option("--vocab", "V", help: "override the model's tokenizer") var vocab: String?
    @Flag("--json", help: "print {prompt, prompt_ids, completions, tokens, tokens_per_s} as JSON instead of streaming") var json: Bool
    let runtime = RuntimeOptions()

    public func run() throws {
        guard let model else { throw CLIError("tllm generate: --model DIR is required") }
        if logprobs > 0 && !json { throw CLIError("tllm generate: --logprobs needs --json") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: model), vocabulary: vocab)
        let tok = bundle.tokenizer
        var text = prompt.replacingOccurrences(of: "\\n", with: "\n")
        var allowed: Set<String> = []
        if chat {
            guard let template = bundle.chatTemplate else { throw CLIError("tllm generate: --chat needs a model with a chat template (a GGUF chat model)") }
            text = template.render([("user", text)], system: system)
            allowed = ChatTemplate.specialTokens
        }
        let stops = Set([tok.specialID("<|endoftext|>"), chat ? tok.specialID("<|im_end|>") : nil].compactMap { $0 })
        var ids = tok.encode(text, allowedSpecial: allowed)
        if ids.isEmpty { ids = [tok.specialID("<|endoftext|>") ?? 0] }
        let gen = Generator(model: bundle.model)
        var completions: [String] = [], steps: [[String: Any]] = []
        var totalTokens = 0
        let t0 = Clock.now()
        for k in 0..<samples {
            var printer = StreamingPrinter()
            if !json {
                if k > 0 { print("\n---") }
                printer.write(Array(text.utf8))
            }
            let out = gen.generate(prompt: ids, maxTokens: maxTokens, options: sampling, seed: seed &+ UInt64(k), stopAt: stops) { t in
                if json { if k == 0 && logprobs > 0 { steps.append(Self.step(t, gen.logits, gen.decoder.vocabularySize, tok, top: logprobs)) } }
                else if !stops.contains(t) { printer.write(tok.bytes(of: t)) }
                return true
            }
            printer.flush()
            totalTokens += out.count
            completions.append(tok.decode(out.filter { !stops.contains($0) }))
        }
        let dt = Clock.now() - t0
        if json {
            var o: [String: Any] = ["prompt": text, "prompt_ids": ids.map(Int.init), "completions": completions, "completion": completions[0],
                                    "tokens_generated": totalTokens, "tokens_per_s": Double(totalTokens) / dt]
            if logprobs > 0 { o["tokens"] = steps }
            printJSON(o)
        } else {
            print("")
            Log.info(String(format: "%d tokens in %.2f s (%.0f tokens/s)", totalTokens, dt, Double(totalTokens) / dt))
        }
    }

    /// One generated token with its log-probability and the `top` most likely candidates, from
    /// the logits that produced it (natural log, as llama.cpp's `n_probs`).
    static func step(_ t: Int32, _ logits: UnsafePointer<Float>, _ V: Int, _ tok: Tokenizer, top: Int) -> [String: Any] {
        let m = (0..<V).reduce(-Float.infinity) { max($0, logits[$1]) }
        var z = 0.0
        for j in 0..<V { z += Foundation.exp(Double(logits[j] - m)) }
        let lz = Double(m) + Foundation.log(z)
        func entry(_ id: Int) -> [String: Any] {
            ["id": id, "text": String(decoding: tok.bytes(of: Int32(id)), as: UTF8.self), "logprob": Double(logits[id]) - lz]
        }
        let best = (0..<V).sorted { logits[$0] > logits[$1] }.prefix(top)
        var e = entry(Int(t))
        e["top"] = best.map(entry)
        return e
    }
}

struct EvalPerplexityCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "eval perplexity",
        summary: "loss, perplexity and bits per byte of a model on any text",
        usage: "--model DIR FILE [--json]")

    @Option("--model", "DIR", help: "a run folder, model directory or .gguf file") var model: String?
    @Option("--window", "T", help: "window length", .positive, defaultDescription: "the model's context, at most 2048") var window: Int?
    @Option("--vocab", "V", help: "override the model's tokenizer.json") var vocab: String?
    @Flag("--json", help: "print {tokens, loss, perplexity, bits_per_byte} as JSON") var json: Bool
    @Positionals("FILE") var files: [String]
    let runtime = RuntimeOptions()

    func run() throws {
        guard let model else { throw CLIError("tllm eval perplexity: --model DIR is required") }
        guard files.count == 1 else { throw CLIError("tllm eval perplexity: give one text FILE") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: model), vocabulary: vocab)
        let text = try TextFiles.readUTF8(files[0])
        let progress = ProgressDisplay()
        let r = try Perplexity.evaluate(model: bundle.model, tokenizer: bundle.tokenizer, text: text, window: window, file: files[0]) { done, total in
            progress.update("windows \(done)/\(total)")
        }
        progress.finish()
        if json { printJSON(encodable: r); return }
        print("file:           \(files[0])")
        print("tokens:         \(r.tokens) (\(r.bytes) bytes)")
        print(String(format: "loss:           %.4f nats/token", r.loss))
        print(String(format: "perplexity:     %.2f", r.perplexity))
        print(String(format: "bits per byte:  %.4f", r.bitsPerByte))
    }
}

/// `--format hf`.
enum ExportFormat: String, ArgumentChoice { case hf }

struct ExportCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "export",
        summary: "export a model for other tools (HuggingFace transformers GPT-2 folder)",
        usage: "--format hf --model DIR -o OUT")

    @Option("--format", "F", help: "hf: GPT2LMHeadModel + tokenizer.json") var format = ExportFormat.hf
    @Option("--model", "DIR", help: "a run folder or model directory") var model: String?
    @Option("-o", "OUT", aliases: ["--output"], help: "output folder (new, or empty)") var out: String?

    func run() throws {
        guard let model else { throw CLIError("tllm export: --model DIR is required") }
        guard let out else { throw CLIError("tllm export: -o OUT is required") }
        let bundle = try ModelBundle.open(URL(fileURLWithPath: model))
        guard let gpt = bundle.model as? GPTModel else { throw CLIError("tllm export: --format hf needs a tllm GPT") }
        try RunFolder.checkEmptyOrNew(URL(fileURLWithPath: out))
        try HuggingFaceExport.export(model: gpt, tokenizer: bundle.tokenizer, to: URL(fileURLWithPath: out))
        Log.info("wrote \(out): config.json, model.safetensors, tokenizer.json (load with GPT2LMHeadModel.from_pretrained)")
    }
}

struct BenchGenerateCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "bench generate",
        summary: "time batch-1 prefill and KV-cache decoding (tokens/s, peak RSS) of a model, GGUF included, or of a fresh GPT",
        usage: "[--model DIR|FILE.gguf --prompt-tokens 64 --new-tokens 128 | --vocab-size V --layers L --d-model D …] [--json]")

    @Option("--model", "M", help: "a run folder, model directory or .gguf file (default: a fresh GPT of the flags below)") var model: String?
    @Option("--prompt-tokens", "N", help: "prompt length (tokens of Hamlet)", .positive) var promptTokens = 64
    @Option("--new-tokens", "N", aliases: ["--tokens"], help: "tokens to decode", .positive) var newTokens = 128
    @Option("--quantize", "TYPE", help: "without --model: store the fresh GPT's matrices as TYPE (as tllm quantize would)") var quantize: QuantType?
    let architecture = BenchArchitecture()
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        let r: GenerateBenchmark.Result
        if let model {
            let b = try ModelBundle.open(URL(fileURLWithPath: model))
            r = GenerateBenchmark.run(model: b.model, parameters: b.config.parameters,
                                      prompt: try GenerateBenchmark.promptTokens(promptTokens, tokenizer: b.tokenizer), newTokens: newTokens)
        } else {
            r = try GenerateBenchmark.run(config: try architecture.config(), tokens: newTokens, quantized: quantize)
        }
        if output.json { printJSON(encodable: r); return }
        print(String(format: "%@ parameters on %@ (%d threads, %@ kernels)", formatCount(r.parameters), r.cpu, r.threads, r.kernels))
        print(String(format: "prefill: %d tokens in %.3f s = %.0f tokens/s", r.promptTokens, r.prefillSeconds, r.prefillTokensPerSecond))
        print(String(format: "decode:  %d tokens in %.3f s = %.1f tokens/s (batch 1, KV cache); peak RSS %.0f MiB",
                     r.tokens, r.seconds, r.tokensPerSecond, Double(r.peakRSSBytes) / Double(1 << 20)))
    }
}
