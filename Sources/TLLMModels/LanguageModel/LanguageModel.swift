import TLLMCore

/// What evaluation and inference need from a causal language model, whatever its architecture or
/// file format: next-token logits at chosen positions, a loss for perplexity, and an incremental
/// decoder for generation. ``Scorer``, ``Generator``, ``Perplexity`` and the few-shot evaluator
/// take `any LanguageModel`; tllm's own GPT conforms, and so does a model loaded from GGUF.
///
/// Every call is inference: nothing is recorded for backward.
public protocol LanguageModel: AnyObject {
    /// Token ids run from 0 to `vocabularySize − 1`.
    var vocabularySize: Int { get }
    /// The longest sequence the model reads at once.
    var contextLength: Int { get }
    /// Next-token logits `[positions.count, V]` for `B` sequences of `T` ids (row-major `[B, T]`),
    /// at flat `positions` of the `B·T` grid.
    func logits(_ ids: [Int32], batch B: Int, length T: Int, at positions: [Int32]) -> Tensor
    /// The mean next-token cross-entropy (nats) of `targets` given `ids`; −100 marks a position
    /// that is not scored.
    func loss(_ ids: [Int32], targets: [Int32], batch B: Int, length T: Int) -> Tensor
    /// A fresh key/value-cache decoder over this model.
    func makeDecoder() -> any IncrementalDecoder
    /// Whether scoring is faster when sequences with a common prefix come one after the other
    /// (a model that scores each sequence on a KV cache can keep the shared part).
    var reusesSharedPrefixes: Bool { get }
}

extension LanguageModel {
    public var reusesSharedPrefixes: Bool { false }

    /// Mean cross-entropy from ``logits(_:batch:length:at:)`` at every scored position (for models
    /// without a fused loss of their own).
    public func loss(_ ids: [Int32], targets: [Int32], batch B: Int, length T: Int) -> Tensor {
        let positions = targets.indices.filter { targets[$0] != -100 }.map { Int32($0) }
        guard !positions.isEmpty else { return Tensor(scalar: 0) }
        return Autograd.withNoGrad {
            logits(ids, batch: B, length: T, at: positions).crossEntropy(targets: positions.map { targets[Int($0)] })
        }
    }
}

/// Token-by-token decoding with a key/value cache: each ``feed(_:)`` runs the new tokens through
/// the model once, after the cached ones, and leaves the last token's logits in ``logits``.
public protocol IncrementalDecoder: AnyObject {
    var vocabularySize: Int { get }
    var contextLength: Int { get }
    /// Tokens currently in the cache.
    var length: Int { get }
    /// Logits of the last token fed: `[vocabularySize]`.
    var logits: UnsafeMutablePointer<Float> { get }
    /// Empties the cache.
    func reset()
    /// Appends `tokens` (1 ≤ count ≤ ``remaining``) and computes the last one's logits.
    func feed(_ tokens: [Int32])
    /// Whether single-token steps are mostly BLAS calls (f32 weights).
    var decodesWithBLAS: Bool { get }
    /// Forgets the cached tokens after the first `n` (the next feed continues from there).
    func rewind(to n: Int)
}

extension IncrementalDecoder {
    /// How many more tokens fit.
    public var remaining: Int { contextLength - length }

    /// Runs `body` the way this decoder decodes fastest: with OpenBLAS's threads spinning between
    /// calls when its single-token products are BLAS matrix–vector products (f32 weights), and
    /// as they are when they are tllm's quantized kernels (the decoder keeps OpenBLAS
    /// single-threaded during those steps, so that its idle threads do not steal the cores from
    /// the spinning decode workers).
    public func whileDecoding<T>(_ body: () throws -> T) rethrows -> T {
        if decodesWithBLAS { return try BLASRuntime.withSpinningThreads(body) }
        return try body()
    }

    public var decodesWithBLAS: Bool { true }
}
