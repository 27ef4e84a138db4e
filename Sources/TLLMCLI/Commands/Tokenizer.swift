import Foundation
import TLLMCore
import TLLMModels
import TLLMTokenizer

extension PreTokenizerPattern: ArgumentChoice {}
extension UnicodeNormalization: ArgumentChoice {}

/// `--vocab`, shared by the tokenizer commands.
struct VocabularyOption: OptionGroup {
    @Option("--vocab", "V", help: "gpt2, cl100k, default, a GPT-2 directory, a .tiktoken, .json or .gguf file", defaultDescription: "default") var vocab: String?

    /// The vocabulary named (a GGUF file's from its metadata).
    func load() throws -> Tokenizer {
        if let vocab, vocab.hasSuffix(".gguf") { return try GGUFLanguageModel.tokenizer(GGUFFile(path: vocab)) }
        return try VocabularyFiles.load(vocab)
    }
}

struct TokenizerTrainCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "tokenizer train",
        summary: "train a byte-level BPE vocabulary on text files",
        usage: "--vocab-size N [--min-frequency 2] [--special A,B] [--pattern gpt2|cl100k] [--normalize none|nfc|nfkc] FILES... -o OUT.json",
        discussion: "Ties between equally frequent pairs go to the pair with the smaller (left id, right id);\nthe merge list is the same for any thread count.")

    @Option("--vocab-size", "N", help: "total tokens including specials", .atLeast(257)) var vocabSize = 8192
    @Option("--min-frequency", "N", help: "stop when the best pair occurs fewer times", .positive) var minFrequency = 2
    @Option("--special", "LIST", help: "comma-separated special tokens (ids after the merges)") var special: List<String>?
    @Option("--pattern", "P", help: "pre-tokenizer") var pattern = PreTokenizerPattern.gpt2
    @Option("--normalize", "F", help: "Unicode normalization") var normalize = UnicodeNormalization.none
    @Option("-o", "OUT", aliases: ["--output"], help: "output vocabulary (tokenizer.json layout)") var out: String?
    @Positionals("FILES") var files: [String]
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        guard let out else { throw CLIError("tllm tokenizer train: -o OUT.json is required") }
        guard !files.isEmpty else { throw CLIError("tllm tokenizer train: give at least one text file") }
        let texts = try TextFiles.expand(files).map { try TextFiles.readUTF8($0) }
        let trainer = BPETrainer(vocabularySize: vocabSize, minFrequency: minFrequency, specialTokens: special?.values ?? [],
                                 pattern: pattern, normalization: normalize)
        let t0 = Clock.now()
        let (tok, report) = try trainer.train(texts: texts)
        let seconds = Clock.now() - t0
        try VocabularyFiles.writeJSON(tok, to: URL(fileURLWithPath: out))
        if output.json {
            printJSON(["vocab_size": tok.vocabularySize, "merges": report.merges, "distinct_words": report.distinctWords,
                       "bytes": report.bytes, "seconds": seconds, "count_seconds": report.countSeconds,
                       "merge_seconds": report.mergeSeconds, "output": out])
        } else {
            Log.info(String(format: "trained %d tokens (%d merges) on %d bytes, %d distinct words in %.2f s (count %.2f s, merges %.2f s) → %@",
                            tok.vocabularySize, report.merges, report.bytes, report.distinctWords, seconds,
                            report.countSeconds, report.mergeSeconds, out))
        }
    }
}

struct TokenizerEncodeCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "tokenizer encode",
        summary: "print the token ids of a file (space-separated)",
        usage: "[--vocab V] [--allow-special] (FILE | --text TEXT)")

    let vocabulary = VocabularyOption()
    @Option("--text", "TEXT", help: "encode this text instead of a file") var text: String?
    @Flag("--allow-special", help: "recognise special tokens such as <|endoftext|> in the text") var allowSpecial: Bool
    @Flag("--pieces", help: "show the pre-token pieces and their tokens instead") var pieces: Bool
    @Positionals("FILE") var files: [String]

    func run() throws {
        let tok = try vocabulary.load()
        let bytes: [UInt8]
        if let text { bytes = Array(text.utf8) } else {
            guard files.count == 1 else { throw CLIError("tllm tokenizer encode: give one FILE or --text TEXT") }
            bytes = try TextFiles.readBytes(files[0])
        }
        if pieces {
            for r in tok.pieces(of: bytes) {
                let piece = Array(bytes[r])
                print("\(JSONValue.quote(String(decoding: piece, as: UTF8.self)))\t\(tok.encode(bytes: piece).map(String.init).joined(separator: " "))")
            }
            return
        }
        let ids = tok.encode(bytes: bytes, allowedSpecial: allowSpecial ? Set(tok.specialTokens.keys) : [])
        FileHandle.standardOutput.write(Data((ids.map(String.init).joined(separator: " ") + "\n").utf8))
    }
}

struct TokenizerDecodeCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "tokenizer decode",
        summary: "turn token ids (from a file, arguments or stdin) back into text",
        usage: "[--vocab V] [FILE | --ids \"1 2 3\"]")

    let vocabulary = VocabularyOption()
    @Option("--ids", "IDS", help: "ids separated by spaces or commas") var ids: String?
    @Positionals("FILE") var files: [String]

    func run() throws {
        let tok = try vocabulary.load()
        let text: String
        let source: String
        if let s = self.ids { text = s; source = "--ids" } else if let f = files.first {
            text = String(decoding: try TextFiles.readBytes(f), as: UTF8.self); source = f
        } else {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self); source = "<stdin>"
        }
        var ids: [Int32] = []
        for (k, part) in text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }).enumerated() {
            guard let v = Int32(part), tok.contains(v) else {
                throw TLLMError("item \(k + 1) '\(part)' is not a token id of this vocabulary (0..<\(tok.vocabularySize))", file: source)
            }
            ids.append(v)
        }
        FileHandle.standardOutput.write(Data(tok.decodeBytes(ids)))
    }
}

struct TokenizerStatsCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "tokenizer stats",
        summary: "tokens, bytes per token and encoding throughput on a file",
        usage: "[--vocab V] [--threads N] [--repeat 3] [--json] FILE")

    let vocabulary = VocabularyOption()
    @Option("--repeat", "N", help: "time N encodings, report the fastest", .positive) var repeats = 3
    @Positionals("FILE") var files: [String]
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        guard files.count == 1 else { throw CLIError("tllm tokenizer stats: give one FILE") }
        let tok = try vocabulary.load()
        let bytes = try TextFiles.readBytes(files[0])
        var best = Double.infinity
        var ids: [Int32] = []
        for _ in 0..<repeats {
            tok.resetCaches()  // every timed run starts from a cold piece cache
            let t0 = Clock.now()
            ids = bytes.withUnsafeBufferPointer { b in
                Threading.count == 1 ? tok.encode(bytes: b) : tok.encodeParallel(bytes: b)
            }
            best = min(best, Clock.now() - t0)
        }
        let mbps = Double(bytes.count) / best / 1e6
        if output.json {
            printJSON(["vocab": tok.name, "file": files[0], "tokens": ids.count, "bytes": bytes.count,
                       "bytes_per_token": Double(bytes.count) / Double(max(1, ids.count)), "seconds": best,
                       "mb_per_s": mbps, "threads": Threading.count])
        } else {
            print("vocabulary:       \(tok.name) (\(tok.vocabularySize) tokens)")
            print("tokens:           \(ids.count)")
            print("bytes:            \(bytes.count)")
            print(String(format: "bytes per token:  %.3f", Double(bytes.count) / Double(max(1, ids.count))))
            print(String(format: "throughput:       %.2f MB/s (%.3f s, %d thread%@)", mbps, best, Threading.count, Threading.count == 1 ? "" : "s"))
        }
    }
}

struct TokenizeCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "tokenize",
        summary: "encode text files into token shards (train.bin, val.bin) for training",
        usage: "[--vocab V] [--val-fraction 0.1] FILES... -o DIR",
        discussion: "Each file is one document; documents are separated by <|endoftext|> when the vocabulary has it.\nWith several documents every k-th is held out for validation (k = round(1/F)); with one,\nthe last F of its tokens.")

    let vocabulary = VocabularyOption()
    @Option("--val-fraction", "F", help: "share of documents (or of the tail, for one file) held out", .fraction) var valFraction = 0.1
    @Option("-o", "DIR", aliases: ["--output"], help: "output directory") var out: String?
    @Positionals("FILES") var inputs: [String]
    let runtime = RuntimeOptions()
    let output = OutputOptions()

    func run() throws {
        guard let out else { throw CLIError("tllm tokenize: -o DIR is required") }
        guard !inputs.isEmpty else { throw CLIError("tllm tokenize: give at least one text file") }
        let frac = valFraction
        let tok = try vocabulary.load()
        let files = try TextFiles.expand(inputs)
        let docs = try files.map { String(decoding: try TextFiles.readUTF8($0), as: UTF8.self) }
        let split = ShardBuilder.split(documents: tok.encodeDocuments(docs), separator: tok.specialID("<|endoftext|>"), validationFraction: frac)
        let dir = URL(fileURLWithPath: out)
        try TokenShard.write(split.train, vocabularySize: tok.vocabularySize, to: dir.appendingPathComponent("train.bin"))
        try TokenShard.write(split.validation, vocabularySize: tok.vocabularySize, to: dir.appendingPathComponent("val.bin"))
        let summary: [String: Any] = ["vocab": tok.name, "vocab_size": tok.vocabularySize, "documents": docs.count,
                                      "train_tokens": split.train.count, "val_tokens": split.validation.count,
                                      "validation_documents": split.validationDocuments, "output": out]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted]),
                             to: dir.appendingPathComponent("meta.json"))
        if output.json { printJSON(summary) } else {
            Log.info("\(docs.count) documents → \(split.train.count) train + \(split.validation.count) validation tokens in \(out)")
        }
    }
}
