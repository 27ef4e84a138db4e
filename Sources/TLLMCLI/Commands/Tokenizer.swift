import Foundation
import TLLMCore
import TLLMTokenizer

private let vocabOption = OptionSpec(name: "--vocab", value: "V",
                                     help: "gpt2, cl100k, default, a GPT-2 directory, a .tiktoken or a .json file", defaultValue: "default")

enum TokenizerTrainCommand: Command {
    static let spec = CommandSpec(
        name: "tokenizer train",
        summary: "train a byte-level BPE vocabulary on text files",
        usage: "--vocab-size N [--min-frequency 2] [--special A,B] [--pattern gpt2|cl100k] [--normalize none|nfc|nfkc] FILES... -o OUT.json",
        options: [
            OptionSpec(name: "--vocab-size", value: "N", help: "total tokens including specials", defaultValue: "8192"),
            OptionSpec(name: "--min-frequency", value: "N", help: "stop when the best pair occurs fewer times", defaultValue: "2"),
            OptionSpec(name: "--special", value: "LIST", help: "comma-separated special tokens (ids after the merges)"),
            OptionSpec(name: "--pattern", value: "P", help: "pre-tokenizer: gpt2 or cl100k", defaultValue: "gpt2"),
            OptionSpec(name: "--normalize", value: "F", help: "Unicode normalization: none, nfc, nfkc", defaultValue: "none"),
            OptionSpec(name: "-o", value: "OUT", help: "output vocabulary (tokenizer.json layout)"),
            OptionSpec(name: "--output", value: "OUT", help: "same as -o"),
            OptionSpec(name: "--threads", value: "N", help: "threads for counting"),
            OptionSpec(name: "--json", value: nil, help: "print a JSON report on stdout"),
        ],
        discussion: "Ties between equally frequent pairs go to the pair with the smaller (left id, right id);\nthe merge list is the same for any thread count.")

    static func run(_ args: Arguments) throws {
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let out = args.string("-o") ?? args.string("--output") else { throw CLIError("tllm tokenizer train: -o OUT.json is required") }
        guard !args.positionals.isEmpty else { throw CLIError("tllm tokenizer train: give at least one text file") }
        guard let pattern = PreTokenizerPattern(rawValue: args.string("--pattern", default: "gpt2")) else {
            throw CLIError("tllm tokenizer train: --pattern must be gpt2 or cl100k")
        }
        guard let norm = UnicodeNormalization(rawValue: args.string("--normalize", default: "none")) else {
            throw CLIError("tllm tokenizer train: --normalize must be none, nfc or nfkc")
        }
        let specials = (args.string("--special") ?? "").split(separator: ",").map(String.init)
        let files = try TextFiles.expand(args.positionals)
        let texts = try files.map { try TextFiles.readUTF8($0) }
        let trainer = BPETrainer(vocabularySize: try args.int("--vocab-size", default: 8192),
                                 minFrequency: try args.int("--min-frequency", default: 2),
                                 specialTokens: specials, pattern: pattern, normalization: norm)
        let t0 = Clock.now()
        let (tok, report) = try trainer.train(texts: texts)
        let seconds = Clock.now() - t0
        try VocabularyFiles.writeJSON(tok, to: URL(fileURLWithPath: out))
        if args.has("--json") {
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

enum TokenizerEncodeCommand: Command {
    static let spec = CommandSpec(
        name: "tokenizer encode",
        summary: "print the token ids of a file (space-separated)",
        usage: "[--vocab V] [--allow-special] (FILE | --text TEXT)",
        options: [vocabOption,
                  OptionSpec(name: "--text", value: "TEXT", help: "encode this text instead of a file"),
                  OptionSpec(name: "--allow-special", value: nil, help: "recognise special tokens such as <|endoftext|> in the text"),
                  OptionSpec(name: "--pieces", value: nil, help: "show the pre-token pieces and their tokens instead")])

    static func run(_ args: Arguments) throws {
        let tok = try VocabularyFiles.load(args.string("--vocab"))
        let bytes: [UInt8]
        if let t = args.string("--text") { bytes = Array(t.utf8) } else {
            guard args.positionals.count == 1 else { throw CLIError("tllm tokenizer encode: give one FILE or --text TEXT") }
            bytes = try TextFiles.readBytes(args.positionals[0])
        }
        if args.has("--pieces") {
            for r in tok.pieces(of: bytes) {
                let piece = Array(bytes[r])
                print("\(JSONValue.quote(String(decoding: piece, as: UTF8.self)))\t\(tok.encode(bytes: piece).map(String.init).joined(separator: " "))")
            }
            return
        }
        let allowed = args.has("--allow-special") ? Set(tok.specialTokens.keys) : []
        let ids = tok.encode(bytes: bytes, allowedSpecial: allowed)
        var out = ids.map(String.init).joined(separator: " ")
        out += "\n"
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

enum TokenizerDecodeCommand: Command {
    static let spec = CommandSpec(
        name: "tokenizer decode",
        summary: "turn token ids (from a file, arguments or stdin) back into text",
        usage: "[--vocab V] [FILE | --ids \"1 2 3\"]",
        options: [vocabOption, OptionSpec(name: "--ids", value: "IDS", help: "ids separated by spaces or commas")])

    static func run(_ args: Arguments) throws {
        let tok = try VocabularyFiles.load(args.string("--vocab"))
        let text: String
        let source: String
        if let s = args.string("--ids") { text = s; source = "--ids" } else if let f = args.positionals.first {
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

enum TokenizerStatsCommand: Command {
    static let spec = CommandSpec(
        name: "tokenizer stats",
        summary: "tokens, bytes per token and encoding throughput on a file",
        usage: "[--vocab V] [--threads N] [--repeat 3] [--json] FILE",
        options: [vocabOption,
                  OptionSpec(name: "--threads", value: "N", help: "1 = the sequential encoder; more = parallel encoding"),
                  OptionSpec(name: "--repeat", value: "N", help: "time N encodings, report the fastest", defaultValue: "3"),
                  OptionSpec(name: "--json", value: nil, help: "print one JSON object")])

    static func run(_ args: Arguments) throws {
        if let t = try args.int("--threads") { Threading.set(t) }
        guard args.positionals.count == 1 else { throw CLIError("tllm tokenizer stats: give one FILE") }
        let tok = try VocabularyFiles.load(args.string("--vocab"))
        let bytes = try TextFiles.readBytes(args.positionals[0])
        var best = Double.infinity
        var ids: [Int32] = []
        for _ in 0..<max(1, try args.int("--repeat", default: 3)) {
            tok.resetCaches()  // every timed run starts from a cold piece cache
            let t0 = Clock.now()
            ids = bytes.withUnsafeBufferPointer { b in
                Threading.count == 1 ? tok.encode(bytes: b) : tok.encodeParallel(bytes: b)
            }
            best = min(best, Clock.now() - t0)
        }
        let mbps = Double(bytes.count) / best / 1e6
        if args.has("--json") {
            printJSON(["vocab": tok.name, "file": args.positionals[0], "tokens": ids.count, "bytes": bytes.count,
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

enum TokenizeCommand: Command {
    static let spec = CommandSpec(
        name: "tokenize",
        summary: "encode text files into token shards (train.bin, val.bin) for training",
        usage: "[--vocab V] [--val-fraction 0.1] FILES... -o DIR",
        options: [vocabOption,
                  OptionSpec(name: "--val-fraction", value: "F", help: "share of documents (or of the tail, for one file) held out", defaultValue: "0.1"),
                  OptionSpec(name: "-o", value: "DIR", help: "output directory"),
                  OptionSpec(name: "--output", value: "DIR", help: "same as -o"),
                  OptionSpec(name: "--threads", value: "N", help: "threads"),
                  OptionSpec(name: "--json", value: nil, help: "print a JSON summary")],
        discussion: "Each file is one document; documents are separated by <|endoftext|> when the vocabulary has it.\nWith several documents every k-th is held out for validation (k = round(1/F)); with one,\nthe last F of its tokens.")

    static func run(_ args: Arguments) throws {
        if let t = try args.int("--threads") { Threading.set(t) }
        guard let out = args.string("-o") ?? args.string("--output") else { throw CLIError("tllm tokenize: -o DIR is required") }
        guard !args.positionals.isEmpty else { throw CLIError("tllm tokenize: give at least one text file") }
        let frac = try args.double("--val-fraction", default: 0.1)
        guard frac >= 0 && frac < 1 else { throw CLIError("tllm tokenize: --val-fraction must be in [0, 1)") }
        let tok = try VocabularyFiles.load(args.string("--vocab"))
        let files = try TextFiles.expand(args.positionals)
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
        if args.has("--json") { printJSON(summary) } else {
            Log.info("\(docs.count) documents → \(split.train.count) train + \(split.validation.count) validation tokens in \(out)")
        }
    }
}
