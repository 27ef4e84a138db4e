import Foundation
import TLLMCore

/// Readers and writers for vocabulary files: GPT-2 (`encoder.json` + `vocab.bpe`), tiktoken
/// (`.tiktoken` rank files) and tllm's own JSON (HuggingFace `tokenizer.json` layout).
///
/// Every error names the file and the line (or byte) at fault.
public enum VocabularyFiles {
    // MARK: - GPT-2

    /// Reads a GPT-2 vocabulary directory (`encoder.json`, `vocab.bpe`).
    public static func readGPT2(directory: URL, name: String = "gpt2") throws -> Tokenizer {
        let encPath = directory.appendingPathComponent("encoder.json").path
        let bpePath = directory.appendingPathComponent("vocab.bpe").path
        guard let encData = FileManager.default.contents(atPath: encPath) else {
            throw TLLMError("cannot read (a GPT-2 vocabulary needs encoder.json and vocab.bpe)", file: encPath)
        }
        let json = try JSONParser.parse([UInt8](encData), path: encPath, rejectDuplicateKeys: true)
        guard let members = json.members else { throw TLLMError("expected a JSON object of token → id", file: encPath, line: 1) }
        var tokens = [[UInt8]?](repeating: nil, count: members.count)
        var specials: [String: Int32] = [:]
        for (tok, v) in members {
            guard let id = v.int, id >= 0 else { throw TLLMError("token \(JSONValue.quote(tok)): id must be a non-negative integer", file: encPath) }
            if tok.hasPrefix("<|") && tok.hasSuffix("|>") { specials[tok] = Int32(id); continue }
            guard let b = ByteLevel.bytes(tok) else {
                throw TLLMError("token \(JSONValue.quote(tok)) has characters outside GPT-2's byte map", file: encPath)
            }
            guard id < tokens.count else {
                throw TLLMError("token \(JSONValue.quote(tok)) has id \(id) but there are \(members.count) tokens (ids have gaps)", file: encPath)
            }
            if tokens[id] != nil { throw TLLMError("id \(id) is used twice", file: encPath) }
            tokens[id] = b
        }
        // Ordinary ids must be 0..<N; specials after them.
        let ordinary = members.count - specials.count
        if let gap = tokens.prefix(ordinary).firstIndex(where: { $0 == nil }) {
            throw TLLMError("no token has id \(gap): ordinary ids must run 0..<\(ordinary) without gaps", file: encPath)
        }
        tokens = Array(tokens.prefix(ordinary))
        // vocab.bpe: every merge must name two tokens whose concatenation is a token.
        guard let bpeData = FileManager.default.contents(atPath: bpePath) else { throw TLLMError("cannot read", file: bpePath) }
        guard let bpeText = String(data: bpeData, encoding: .utf8) else { throw TLLMError("not valid UTF-8", file: bpePath) }
        var known = Set<[UInt8]>()
        for t in tokens { if let t { known.insert(t) } }
        var mergeCount = 0
        for (k, line) in bpeText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if k == 0 && line.hasPrefix("#version") { continue }
            if line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TLLMError("a merge line must be two tokens separated by one space, got \(JSONValue.quote(String(line)))", file: bpePath, line: k + 1)
            }
            guard let a = ByteLevel.bytes(String(parts[0])), let b = ByteLevel.bytes(String(parts[1])) else {
                throw TLLMError("merge has characters outside GPT-2's byte map", file: bpePath, line: k + 1)
            }
            guard known.contains(a), known.contains(b), known.contains(a + b) else {
                throw TLLMError("merge \(JSONValue.quote(String(line))) names a token missing from encoder.json", file: bpePath, line: k + 1)
            }
            mergeCount += 1
        }
        guard mergeCount + 256 == ordinary else {
            throw TLLMError("\(mergeCount) merges for \(ordinary) tokens: expected \(ordinary - 256) (missing or extra merges)", file: bpePath)
        }
        return try wrap(tokens: tokens, specials: specials, pattern: .gpt2, name: name, file: encPath)
    }

    // MARK: - tiktoken

    /// Reads a `.tiktoken` rank file (`base64-token rank` per line). Specials are not in the file;
    /// pass them (the bundled cl100k_base gets tiktoken's).
    public static func readTiktoken(_ url: URL, specials: [String: Int32] = [:], pattern: PreTokenizerPattern = .cl100k,
                                    name: String? = nil) throws -> Tokenizer {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else { throw TLLMError("cannot read", file: path) }
        var tokens: [[UInt8]?] = []
        tokens.reserveCapacity(data.count / 12)
        var lineNo = 0
        var start = 0
        let bytes = [UInt8](data)
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            lineNo += 1
            let line = bytes[start..<end]
            start = end + 1
            if line.isEmpty { continue }
            guard let sp = line.firstIndex(of: 0x20) else {
                throw TLLMError("expected 'base64 rank', found no space (truncated?)", file: path, line: lineNo)
            }
            guard let tok = Data(base64Encoded: Data(line[line.startIndex..<sp])) else {
                throw TLLMError("invalid base64 token", file: path, line: lineNo)
            }
            guard let rank = Int(String(decoding: line[(sp + 1)...], as: UTF8.self)) else {
                throw TLLMError("invalid rank \(JSONValue.quote(String(decoding: line[(sp + 1)...], as: UTF8.self)))", file: path, line: lineNo)
            }
            guard rank == tokens.count else {
                throw TLLMError("rank \(rank) where \(tokens.count) was expected: ranks must run 0, 1, 2, … without gaps", file: path, line: lineNo)
            }
            tokens.append([UInt8](tok))
        }
        guard !tokens.isEmpty else { throw TLLMError("no tokens (empty file)", file: path) }
        return try wrap(tokens: tokens, specials: specials, pattern: pattern, name: name ?? url.deletingPathExtension().lastPathComponent, file: path)
    }

    /// tiktoken's cl100k_base special tokens.
    public static let cl100kSpecials: [String: Int32] = [
        "<|endoftext|>": 100_257, "<|fim_prefix|>": 100_258, "<|fim_middle|>": 100_259,
        "<|fim_suffix|>": 100_260, "<|endofprompt|>": 100_276,
    ]

    static func wrap(tokens: [[UInt8]?], specials: [String: Int32], pattern: PreTokenizerPattern,
                     normalization: UnicodeNormalization = .none, name: String, file: String) throws -> Tokenizer {
        do {
            return try Tokenizer(tokens: tokens, specialTokens: specials, pattern: pattern, normalization: normalization, name: name)
        } catch let e as TLLMError {
            throw TLLMError(e.message, file: file)
        }
    }

    // MARK: - tllm JSON (HuggingFace tokenizer.json layout)

    /// Serialises a tokenizer as a HuggingFace `tokenizer.json` (ByteLevel BPE), which
    /// `tokenizers.Tokenizer.from_file` and `PreTrainedTokenizerFast` load.
    public static func encodeJSON(_ t: Tokenizer) -> String {
        var vocab: [(String, Int)] = []
        for id in 0..<t.ordinaryCount where t.bpe.isToken(id) {
            vocab.append((ByteLevel.string(t.bpe.bytes(of: id)), id))
        }
        let merges = t.mergeStrings
        let added = t.specialTokens.sorted { $0.value < $1.value }.map { s, id in
            "{\"id\":\(id),\"content\":\(JSONValue.quote(s)),\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}"
        }
        let normalizer: String
        switch t.normalization {
        case .none: normalizer = "null"
        case .nfc: normalizer = "{\"type\":\"NFC\"}"
        case .nfkc: normalizer = "{\"type\":\"NFKC\"}"
        }
        let preTokenizer: String
        switch t.pattern {
        case .gpt2:
            preTokenizer = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
        case .smollm:
            preTokenizer = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}"
        case .cl100k:
            preTokenizer = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\(JSONValue.quote(t.pattern.regex))},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}"
        }
        var s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
        s += "  \"added_tokens\": [\n    " + added.joined(separator: ",\n    ") + "\n  ],\n"
        s += "  \"normalizer\": \(normalizer),\n  \"pre_tokenizer\": \(preTokenizer),\n  \"post_processor\": null,\n"
        s += "  \"decoder\": {\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},\n"
        s += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
        s += "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n"
        s += "    \"vocab\": {\n" + vocab.map { "      \(JSONValue.quote($0.0)): \($0.1)" }.joined(separator: ",\n") + "\n    },\n"
        s += "    \"merges\": [\n" + merges.map { "      \(JSONValue.quote($0))" }.joined(separator: ",\n") + "\n    ]\n  }\n}\n"
        return s
    }

    /// Writes a tokenizer as JSON, atomically.
    public static func writeJSON(_ t: Tokenizer, to url: URL) throws {
        try AtomicFile.write(encodeJSON(t), to: url)
    }

    /// Reads a tllm / HuggingFace `tokenizer.json` with a ByteLevel BPE model.
    public static func readJSON(_ url: URL) throws -> Tokenizer {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else { throw TLLMError("cannot read", file: path) }
        let json = try JSONParser.parse([UInt8](data), path: path, rejectDuplicateKeys: true)
        guard let model = json["model"], model["type"]?.string == "BPE" else {
            throw TLLMError("expected a \"model\" of type \"BPE\" (HuggingFace tokenizer.json layout)", file: path)
        }
        guard let vocab = model["vocab"]?.members else { throw TLLMError("model.vocab is missing or not an object", file: path) }
        guard let mergesJSON = model["merges"]?.array else { throw TLLMError("model.merges is missing or not an array", file: path) }
        var specials: [String: Int32] = [:]
        for a in json["added_tokens"]?.array ?? [] {
            guard let id = a["id"]?.int, let content = a["content"]?.string else {
                throw TLLMError("added_tokens entries need an integer id and a content string", file: path)
            }
            specials[content] = Int32(id)
        }
        let specialIDs = Set(specials.values.map(Int.init))
        var maxID = -1
        for (_, v) in vocab { maxID = max(maxID, v.int ?? -1) }
        var tokens = [[UInt8]?](repeating: nil, count: maxID + 1)
        for (tok, v) in vocab {
            guard let id = v.int, id >= 0 else { throw TLLMError("vocab token \(JSONValue.quote(tok)): id must be a non-negative integer", file: path) }
            if specialIDs.contains(id) { continue }
            guard let b = ByteLevel.bytes(tok) else {
                throw TLLMError("vocab token \(JSONValue.quote(tok)) has characters outside the ByteLevel map", file: path)
            }
            if tokens[id] != nil { throw TLLMError("vocab id \(id) is used twice", file: path) }
            tokens[id] = b
        }
        if let gap = tokens.indices.first(where: { tokens[$0] == nil && !specialIDs.contains($0) }) {
            throw TLLMError("no token has id \(gap): ids must run 0..<\(tokens.count) without gaps", file: path)
        }
        // Trim trailing special ids (they are added back from added_tokens).
        while let last = tokens.last, last == nil { tokens.removeLast() }
        var known = Set<[UInt8]>()
        for t in tokens { if let t { known.insert(t) } }
        for (k, m) in mergesJSON.enumerated() {
            let pair: [String]
            if let s = m.string { pair = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init) } else if let a = m.array?.compactMap(\.string) { pair = a } else { pair = [] }
            guard pair.count == 2, let a = ByteLevel.bytes(pair[0]), let b = ByteLevel.bytes(pair[1]),
                  known.contains(a), known.contains(b), known.contains(a + b) else {
                throw TLLMError("merge \(k) (\(m)) is malformed or names a token missing from the vocabulary", file: path)
            }
        }
        let multiByte = tokens.filter { ($0?.count ?? 0) >= 2 }.count
        guard mergesJSON.count == multiByte else {
            throw TLLMError("\(mergesJSON.count) merges for \(multiByte) multi-byte tokens (missing or extra merges)", file: path)
        }
        var pattern = PreTokenizerPattern.gpt2
        if let pre = json["pre_tokenizer"] {
            if pre["type"]?.string == "Sequence", let first = pre["pretokenizers"]?.array?.first,
               first["type"]?.string == "Digits", first["individual_digits"]?.bool == true {
                pattern = .smollm
            } else if pre["type"]?.string == "Sequence",
               let regex = pre["pretokenizers"]?.array?.first?["pattern"]?["Regex"]?.string {
                guard let p = PreTokenizerPattern.allCases.first(where: { $0.regex == regex }) else {
                    throw TLLMError("pre_tokenizer regex is not one tllm implements (gpt2 or cl100k)", file: path)
                }
                pattern = p
            } else if pre["type"]?.string != "ByteLevel" && !pre.isNull {
                throw TLLMError("pre_tokenizer \(pre["type"]?.string ?? "?") is not supported (ByteLevel or a cl100k Split)", file: path)
            }
        }
        var normalization = UnicodeNormalization.none
        if let n = json["normalizer"], !n.isNull {
            switch n["type"]?.string {
            case "NFC": normalization = .nfc
            case "NFKC": normalization = .nfkc
            default: throw TLLMError("normalizer \(n["type"]?.string ?? "?") is not supported (null, NFC or NFKC)", file: path)
            }
        }
        return try wrap(tokens: tokens, specials: specials, pattern: pattern, normalization: normalization,
                        name: url.deletingPathExtension().lastPathComponent, file: path)
    }

    // MARK: - GGUF metadata

    /// A tokenizer from a GGUF file's `tokenizer.ggml.*` metadata (model `gpt2`: byte-level BPE):
    /// `tokens` in GPT-2's byte-to-character map, their `types` (3 control and 4 user-defined
    /// are special tokens), the `merges` (each must name tokens of the vocabulary, and merge ranks
    /// must follow token ids, which byte-level BPE here relies on), and the pre-tokenizer name.
    /// Bytes with no token of their own encode as `unknown`.
    public static func fromGGUF(tokens strings: [String], types: [Int], merges: [String], pre: String, unknown: Int32?,
                                name: String, file: String) throws -> Tokenizer {
        let pattern: PreTokenizerPattern
        switch pre {
        case "smollm": pattern = .smollm
        case "gpt2", "default", "gpt-2": pattern = .gpt2
        default: throw TLLMError("pre-tokenizer '\(pre)' is not supported (gpt2, smollm)", file: file)
        }
        guard types.isEmpty || types.count == strings.count else {
            throw TLLMError("tokenizer.ggml.token_type has \(types.count) entries for \(strings.count) tokens", file: file)
        }
        var tokens = [[UInt8]?](repeating: nil, count: strings.count)
        var specials: [String: Int32] = [:]
        var index: [[UInt8]: Int] = [:]
        for (id, s) in strings.enumerated() {
            if !types.isEmpty && (types[id] == 3 || types[id] == 4) { specials[s] = Int32(id); continue }
            guard let b = ByteLevel.bytes(s) else { throw TLLMError("token \(id) \(JSONValue.quote(s)) has characters outside GPT-2's byte map", file: file) }
            tokens[id] = b
            index[b] = id
        }
        var lastRank = -1
        for (k, m) in merges.enumerated() {
            let pair = m.split(separator: " ", omittingEmptySubsequences: false)
            guard pair.count == 2, let a = ByteLevel.bytes(String(pair[0])), let b = ByteLevel.bytes(String(pair[1])),
                  index[a] != nil, index[b] != nil, let id = index[a + b] else {
                throw TLLMError("tokenizer.ggml.merges[\(k)] \(JSONValue.quote(m)) is malformed or names a token that is not in the vocabulary", file: file)
            }
            guard id > lastRank else {
                throw TLLMError("tokenizer.ggml.merges[\(k)] produces token \(id) after token \(lastRank): merge order must follow token ids", file: file)
            }
            lastRank = id
        }
        while let last = tokens.last, last == nil { tokens.removeLast() }
        do {
            return try Tokenizer(tokens: tokens, specialTokens: specials, pattern: pattern, name: name, unknownToken: unknown)
        } catch let e as TLLMError {
            throw TLLMError(e.message, file: file)
        }
    }

    // MARK: - Resolving `--vocab`

    /// Resolves a `--vocab` argument: `gpt2`, `cl100k` (bundled copies), `default` or nothing (the
    /// bundled default vocabulary), a GPT-2 directory, a `.tiktoken` file, or a tllm JSON file.
    public static func load(_ spec: String?) throws -> Tokenizer {
        let s = spec ?? "default"
        switch s {
        case "gpt2", "r50k", "r50k_base":
            guard let dir = ResourceLocator.find("vocab/gpt2") else { throw TLLMError("bundled vocab/gpt2 not found (set TLLM_HOME to the tllm checkout)") }
            return try readGPT2(directory: dir, name: "gpt2")
        case "cl100k", "cl100k_base":
            guard let f = ResourceLocator.find("vocab/cl100k/cl100k_base.tiktoken") else {
                throw TLLMError("bundled vocab/cl100k/cl100k_base.tiktoken not found (set TLLM_HOME to the tllm checkout)")
            }
            return try readTiktoken(f, specials: cl100kSpecials, pattern: .cl100k, name: "cl100k")
        case "default":
            guard let f = ResourceLocator.find(defaultVocabularyPath) else {
                throw TLLMError("bundled \(defaultVocabularyPath) not found (set TLLM_HOME to the tllm checkout)")
            }
            return try readJSON(f)
        default:
            let url = URL(fileURLWithPath: s)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
                throw TLLMError("no such vocabulary (expected gpt2, cl100k, default, a GPT-2 directory, a .tiktoken or a .json file)", file: s)
            }
            if isDir.boolValue { return try readGPT2(directory: url, name: url.lastPathComponent) }
            if url.pathExtension == "tiktoken" { return try readTiktoken(url, pattern: .cl100k) }
            return try readJSON(url)
        }
    }

    /// The default vocabulary, relative to the project root.
    public static let defaultVocabularyPath = "vocab/tllm-8k.json"
}
