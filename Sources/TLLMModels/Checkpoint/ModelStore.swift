import Foundation
import TLLMCore
import TLLMTokenizer

/// Model files: `model.safetensors` (float32 tensors named as `namedParameters`, PyTorch layout) and
/// `config.json` (the architecture, plus `parameters` / `non_embedding_parameters`).
///
/// The safetensors metadata carries `tllm_checksum`, a 64-bit hash of all tensor data, so a
/// corrupted file is detected on load, not used.
/// A model's configuration as `config.json` stores it, with the parameter counts beside it.
public protocol ModelDescription: Codable {
    var parameters: Int { get }
    var nonEmbeddingParameters: Int { get }
}

extension ModelConfig: ModelDescription {}

public enum ModelStore {
    /// `config.json`: the architecture and the parameter counts scripts read.
    public struct ConfigFile<Model: ModelDescription>: Codable {
        public var model: Model
        public var parameters: Int
        public var nonEmbeddingParameters: Int
        public var format: String = "tllm-model-v1"
        enum CodingKeys: String, CodingKey {
            case model, parameters, nonEmbeddingParameters = "non_embedding_parameters", format
        }
        public init(model: Model) {
            self.model = model
            parameters = model.parameters
            nonEmbeddingParameters = model.nonEmbeddingParameters
        }
    }

    /// A fast 64-bit hash of float data (8 bytes per round).
    public static func checksum(_ tensors: [(String, Tensor)]) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for (name, t) in tensors.sorted(by: { $0.0 < $1.0 }) {
            for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            let raw = UnsafeRawPointer(t.data)
            let bytes = t.count * 4
            var i = 0
            while i + 8 <= bytes {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xC4CE_B9FE_1A85_EC53
                h ^= h >> 29
                i += 8
            }
            while i < bytes { h = (h ^ UInt64(raw.load(fromByteOffset: i, as: UInt8.self))) &* 0x0000_0100_0000_01B3; i += 1 }
        }
        return h
    }

    /// Writes `model.safetensors` and `config.json` into `dir` (each atomically).
    public static func save<C: ModelDescription>(_ named: [(String, Tensor)], config: C, to dir: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var meta = metadata
        meta["format"] = "pt"
        meta["tllm_checksum"] = String(format: "%016llx", checksum(named))
        try withBuffers(named) { entries in
            try SafeTensors.write(entries, metadata: meta, to: dir.appendingPathComponent("model.safetensors"))
        }
        try writeConfig(config, to: dir)
    }

    public static func writeConfig<C: ModelDescription>(_ config: C, to dir: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(ConfigFile(model: config)), to: dir.appendingPathComponent("config.json"))
    }

    static func withBuffers<R>(_ named: [(String, Tensor)], _ body: ([SafeTensors.Entry]) throws -> R) rethrows -> R {
        let entries = named.map { SafeTensors.Entry(name: $0.0, shape: $0.1.shape, values: UnsafeBufferPointer(start: $0.1.data, count: $0.1.count)) }
        return try withExtendedLifetime(named) { try body(entries) }
    }

    /// The directory holding the model files: `dir` itself, or its `checkpoint/` (a run folder).
    public static func resolve(_ dir: URL) throws -> URL {
        let fm = FileManager.default
        for candidate in [dir, dir.appendingPathComponent("checkpoint"), dir.appendingPathComponent("checkpoint.old")] {
            if fm.fileExists(atPath: candidate.appendingPathComponent("model.safetensors").path) { return candidate }
        }
        throw TLLMError("no model.safetensors here or in its checkpoint/ folder", file: dir.path)
    }

    /// Reads and checks `config.json`.
    public static func readConfig(_ dir: URL) throws -> ModelConfig {
        let url = dir.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TLLMError("cannot read", file: url.path) }
        let bytes = [UInt8](data)
        let json = try JSONParser.parse(bytes, path: url.path)  // syntax errors with line and column
        guard let model = json["model"], model.members != nil else { throw TLLMError("not a tllm model config: no \"model\" object", file: url.path) }
        try JSONParser.checkTypes(model, prefix: "model.", integers: ["vocab_size", "context", "layers", "d_model", "heads", "kv_heads", "mlp_hidden", "segments"],
                                  numbers: ["dropout", "norm_eps", "rope_base"], booleans: ["bias", "attention_only", "tied_embeddings"],
                                  strings: ["architecture", "norm", "activation", "positions", "rope_style"], data: bytes, path: url.path)
        do {
            let c = try JSONDecoder().decode(ConfigFile<ModelConfig>.self, from: data).model
            do { try c.validate() } catch let e as TLLMError { throw TLLMError(e.message, file: url.path) }
            return c
        } catch let e as DecodingError {
            throw TLLMError("not a tllm model config: \(describe(e))", file: url.path)
        }
    }

    public static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, let ctx): return "missing field \((ctx.codingPath + [k]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "wrong type for \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        case .dataCorrupted(let ctx): return "bad value for \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// Loads tensors from `dir/model.safetensors` into `named` (names and shapes must match exactly;
    /// the checksum must match the data).
    public static func loadWeights(into named: [(String, Tensor)], from dir: URL) throws {
        let url = dir.appendingPathComponent("model.safetensors")
        let file = try SafeTensors.read(url)
        var missing: [String] = []
        for (name, t) in named {
            guard let e = file.tensors[name] else { missing.append(name); continue }
            guard e.shape == t.shape else {
                throw TLLMError("tensor \(name) has shape \(e.shape) but config.json implies \(t.shape) (config and weights do not match)", file: url.path)
            }
            if let bad = e.values.firstIndex(where: { !$0.isFinite }) {
                throw TLLMError("tensor \(name) holds a non-finite value (\(e.values[bad]) at element \(bad)); refusing to use these weights", file: url.path)
            }
            e.values.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
        }
        if !missing.isEmpty {
            throw TLLMError("missing tensors \(missing.prefix(3).joined(separator: ", "))\(missing.count > 3 ? ", …" : "") (config and weights do not match)", file: url.path)
        }
        let expected = Set(named.map(\.0))
        if let extra = file.tensors.keys.sorted().first(where: { !expected.contains($0) }) {
            throw TLLMError("unexpected tensor \(extra) (config and weights do not match)", file: url.path)
        }
        if let sum = file.metadata["tllm_checksum"], sum != String(format: "%016llx", checksum(named)) {
            throw TLLMError("checksum mismatch: the file is corrupted", file: url.path)
        }
    }

    /// The model in a directory or run folder: its config, a model of its architecture with the
    /// saved weights, and the folder the files are in.
    public static func load(_ dir: URL) throws -> (model: Module, config: ModelConfig, directory: URL) {
        let d = try resolve(dir)
        let c = try readConfig(d)
        do { try c.checkFitsInMemory(training: false) } catch let e as TLLMError { throw TLLMError(e.message, file: d.appendingPathComponent("config.json").path) }
        let m = try ModelRegistry.make(c, seed: 0)
        try loadWeights(into: m.namedParameters, from: d)
        return (m, c, d)
    }

    /// The model in `dir` as a `M` (an error names what the command needs otherwise).
    public static func load<M: Module>(_ dir: URL, as: M.Type, needing what: String) throws -> M {
        let (m, c, d) = try load(dir)
        guard let typed = m as? M else {
            throw TLLMError("this is a \(c.architecture) model; this command needs \(what)", file: d.appendingPathComponent("config.json").path)
        }
        return typed
    }

    /// Loads a BERT-style encoder from a model directory (or a run folder's checkpoint).
    public static func loadBERT(_ dir: URL) throws -> BERTModel {
        try load(dir, as: BERTModel.self, needing: "a BERT (masked-LM) model")
    }

    /// Loads a GPT from a model directory (or a run folder's checkpoint).
    public static func loadGPT(_ dir: URL) throws -> GPTModel {
        try load(dir, as: GPTModel.self, needing: "a GPT (causal) model")
    }

    /// The tokenizer of a model folder: `tokenizer.json` beside the weights, else `vocabulary`
    /// (or the default); it must match the model's vocabulary size.
    public static func tokenizer(for dir: URL, vocabularySize: Int, vocabulary: String? = nil) throws -> Tokenizer {
        let path = dir.appendingPathComponent("tokenizer.json")
        let tok: Tokenizer
        if let vocabulary {
            tok = try VocabularyFiles.load(vocabulary)
        } else if FileManager.default.fileExists(atPath: path.path) {
            tok = try VocabularyFiles.readJSON(path)
        } else {
            tok = try VocabularyFiles.load(nil)
        }
        guard tok.vocabularySize == vocabularySize else {
            throw TLLMError("vocabulary \(tok.name) has \(tok.vocabularySize) tokens but the model was trained with \(vocabularySize) (wrong vocabulary)",
                            file: dir.path)
        }
        return tok
    }
}
