import Foundation
import TLLMCore
import TLLMTokenizer

/// A corpus encoded into a training stream and a validation stream (documents separated by
/// `<|endoftext|>`), with the byte counts bits-per-byte needs. Cached on disk after the first run.
public struct TokenizedCorpus {
    public var train: [Int32]
    public var validation: [Int32]
    /// Names of the held-out documents.
    public var validationDocuments: [String]
    public var trainDocuments: Int
    /// UTF-8 bytes each token stands for (`tokenizer.bytes(of:).count`), for bits per byte.
    public var tokenBytes: [Int32]

    public init(train: [Int32], validation: [Int32], validationDocuments: [String], trainDocuments: Int, tokenBytes: [Int32]) {
        self.train = train; self.validation = validation; self.validationDocuments = validationDocuments
        self.trainDocuments = trainDocuments; self.tokenBytes = tokenBytes
    }

    /// Encodes (or loads from the cache) `corpus` with `tokenizer`, holding out `fraction` of the
    /// documents (or of the tail, for a single document).
    public static func make(_ corpus: Corpus, tokenizer: Tokenizer, validationFraction: Double = 0.1,
                            cacheDirectory: URL? = TokenizedCorpus.defaultCacheDirectory, log: (String) -> Void = { _ in }) throws -> TokenizedCorpus {
        let heldOut = corpus.validationIndices(fraction: validationFraction)
        let vocabHash = VocabularyFiles.encodeJSON(tokenizer).utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
        let key = String(format: "%016llx-%016llx-%d", corpus.contentHash, vocabHash, Int(validationFraction * 1000))
        let tokenBytes = (0..<tokenizer.vocabularySize).map { Int32(tokenizer.bytes(of: Int32($0)).count) }
        if let dir = cacheDirectory {
            let tr = dir.appendingPathComponent("\(key).train.bin"), va = dir.appendingPathComponent("\(key).val.bin")
            if let a = try? TokenShard.read(tr), let b = try? TokenShard.read(va), a.vocabularySize == tokenizer.vocabularySize {
                log("tokens: cached in \(dir.path)")
                return TokenizedCorpus(train: a.tokens, validation: b.tokens,
                                       validationDocuments: heldOut.map { corpus.documents[$0].name },
                                       trainDocuments: corpus.documents.count - heldOut.count, tokenBytes: tokenBytes)
            }
        }
        let t0 = Clock.now()
        let encoded = tokenizer.encodeDocuments(corpus.documents.map { String(decoding: $0.text, as: UTF8.self) })
        let split = ShardBuilder.split(documents: encoded, separator: tokenizer.specialID("<|endoftext|>"),
                                       validationFraction: validationFraction)
        log(String(format: "tokens: encoded %d documents in %.2f s", corpus.documents.count, Clock.now() - t0))
        if let dir = cacheDirectory {
            try? TokenShard.write(split.train, vocabularySize: tokenizer.vocabularySize, to: dir.appendingPathComponent("\(key).train.bin"))
            try? TokenShard.write(split.validation, vocabularySize: tokenizer.vocabularySize, to: dir.appendingPathComponent("\(key).val.bin"))
        }
        return TokenizedCorpus(train: split.train, validation: split.validation,
                               validationDocuments: split.validationDocuments.map { corpus.documents[$0].name },
                               trainDocuments: corpus.documents.count - split.validationDocuments.count, tokenBytes: tokenBytes)
    }

    /// `$TLLM_CACHE`, else `$XDG_CACHE_HOME/tllm`, else `~/.cache/tllm`.
    public static var defaultCacheDirectory: URL? {
        let env = ProcessInfo.processInfo.environment
        if let c = env["TLLM_CACHE"] { return c.isEmpty ? nil : URL(fileURLWithPath: c) }
        if let x = env["XDG_CACHE_HOME"] { return URL(fileURLWithPath: x).appendingPathComponent("tllm") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/tllm")
    }
}

/// Random windows of `length + 1` tokens from a stream: inputs and next-token targets.
public struct CLMBatcher {
    public let tokens: [Int32]
    public let batch: Int
    public let length: Int

    public init(tokens: [Int32], batch: Int, length: Int) throws {
        guard tokens.count > length + 1 else {
            throw TLLMError("the training stream has \(tokens.count) tokens, fewer than one window of \(length + 1)")
        }
        self.tokens = tokens
        self.batch = batch
        self.length = length
    }

    /// The next batch: `batch` windows whose starts are drawn uniformly from `rng`.
    public func next(_ rng: inout RandomGenerator) -> (inputs: [Int32], targets: [Int32]) {
        var x = [Int32](), y = [Int32]()
        x.reserveCapacity(batch * length)
        y.reserveCapacity(batch * length)
        let span = tokens.count - length - 1
        for _ in 0..<batch {
            let s = rng.nextInt(below: span + 1)
            x.append(contentsOf: tokens[s..<(s + length)])
            y.append(contentsOf: tokens[(s + 1)..<(s + length + 1)])
        }
        return (x, y)
    }

    /// Fixed evaluation windows: up to `maxTokens` worth of non-overlapping windows spread evenly
    /// over `stream`, grouped into batches of `batch`.
    public static func evaluationBatches(_ stream: [Int32], batch: Int, length: Int, maxTokens: Int) -> [(inputs: [Int32], targets: [Int32])] {
        let available = (stream.count - 1) / length
        guard available > 0 else { return [] }
        let windows = max(1, min(available, maxTokens / length))
        let stride = Double(available) / Double(windows)
        var starts: [Int] = (0..<windows).map { Int(Double($0) * stride) * length }
        var out: [(inputs: [Int32], targets: [Int32])] = []
        while !starts.isEmpty {
            let take = Array(starts.prefix(batch))
            starts.removeFirst(take.count)
            var x = [Int32](), y = [Int32]()
            for s in take {
                x.append(contentsOf: stream[s..<(s + length)])
                y.append(contentsOf: stream[(s + 1)..<(s + length + 1)])
            }
            out.append((x, y))
        }
        return out
    }
}
