import TLLMCore
import TLLMTokenizer

/// A text, or a pair of texts, to classify.
public struct TextPair: Sendable {
    public var text: String
    public var textB: String?
    public init(_ text: String, _ textB: String? = nil) { self.text = text; self.textB = textB }
}

/// How a sequence's hidden states become one feature vector.
public enum Pooling: String, Sendable, CaseIterable {
    /// GPT: the last real token; BERT: `[CLS]` through the pooler.
    case last
    /// The mean of the real tokens' states.
    case mean
}

/// Token ids of a padded batch of sequences for a backbone.
public struct EncodedBatch {
    public var ids: [Int32]           // [B·T]
    public var segments: [Int32]      // [B·T]
    public var lengths: [Int]         // [B] real tokens per sequence
    public var batch: Int
    public var length: Int
}

/// A pretrained model that a ``Classifier`` can sit on: it encodes text pairs into ids its way,
/// turns them into pooled features, and says which parameters each fine-tuning mode freezes.
/// GPT and BERT conform in their own files; a new architecture conforms in its own.
public protocol ClassifierBackbone: Module {
    var config: ModelConfig { get }
    /// Blocks, lowest first (what `freeze:K` counts).
    var blockCount: Int { get }
    /// Ids (and segments) for `examples`, truncated to the context.
    func encodeInputs(_ examples: [TextPair], tokenizer: Tokenizer) -> EncodedBatch
    /// Pooled features `[B, d]`, from the first `layer` blocks when given.
    func features(_ batch: EncodedBatch, pooling: Pooling, layer: Int?, context: ForwardContext) -> Tensor
    /// The parameters fine-tuning modes act on: embeddings, each block's, and those above the
    /// blocks that the features pass through.
    var freezeGroups: (embeddings: [Tensor], blocks: [[Tensor]], top: [Tensor]) { get }
}

extension ClassifierBackbone {
    /// Pads encoded sequences (ids, segments) into one batch.
    public static func pad(_ seqs: [([Int32], [Int32])], padding: Int32) -> EncodedBatch {
        let T = seqs.map { $0.0.count }.max() ?? 1
        var ids = [Int32](repeating: padding, count: seqs.count * T), seg = [Int32](repeating: 0, count: seqs.count * T)
        for (b, s) in seqs.enumerated() {
            for t in 0..<s.0.count { ids[b * T + t] = s.0[t]; seg[b * T + t] = s.1[t] }
        }
        return EncodedBatch(ids: ids, segments: seg, lengths: seqs.map { $0.0.count }, batch: seqs.count, length: T)
    }

    /// Mean over each sequence's real tokens: a `[B, B·T]` averaging matrix times the hidden
    /// states (one sgemm).
    public static func meanPool(_ h: Tensor, lengths: [Int], B: Int, T: Int) -> Tensor {
        var w = [Float](repeating: 0, count: B * B * T)
        for b in 0..<B { for t in 0..<lengths[b] { w[b * B * T + b * T + t] = 1 / Float(lengths[b]) } }
        return Tensor(shape: [B, B * T], values: w).matmul(h)
    }
}

/// How much of a pretrained model trains.
public enum FineTuneMode: Equatable, CustomStringConvertible, Sendable {
    /// Everything trains.
    case full
    /// Embeddings and the lowest K blocks are frozen: no gradients, no optimizer state, and the
    /// backward pass stops at block K.
    case freeze(Int)
    /// The whole encoder is frozen; features are computed once and only a linear head trains.
    case probe

    public static func named(_ s: String) -> FineTuneMode? {
        if s == "full" { return .full }
        if s == "probe" { return .probe }
        if s.hasPrefix("freeze:"), let k = Int(s.dropFirst(7)), k >= 0 { return .freeze(k) }
        return nil
    }

    public var description: String {
        switch self {
        case .full: return "full"
        case .freeze(let k): return "freeze:\(k)"
        case .probe: return "probe"
        }
    }
}

/// A pretrained backbone with a linear classification head:
///
///     text (pair) ─ tokenizer ─ backbone ─ pool (last / mean, optionally after block L) ─ head ─► logits [B, C]
public final class Classifier: Module {
    @ModuleInfo public var backbone: any ClassifierBackbone
    @ParameterInfo public var head: Tensor          // [C, d]
    @ParameterInfo(key: "head_bias") public var headBias: Tensor  // [C]
    public let tokenizer: Tokenizer
    public var pooling: Pooling = .last
    /// Features from this many blocks (probes); nil = the full model.
    public var layer: Int?

    public init(backbone: any ClassifierBackbone, tokenizer: Tokenizer, classes: Int, seed: UInt64) {
        self.tokenizer = tokenizer
        super.init()
        self.backbone = backbone
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("classifier-head"))
        head = Tensor.randn([classes, backbone.config.dModel], std: 0.02, rng: &rng, requiresGrad: true)
        headBias = Tensor(zeros: [classes], requiresGrad: true)
    }

    public var config: ModelConfig { backbone.config }

    /// Sets which parameters train for `mode`; returns the trainable ones (head included).
    public func apply(_ mode: FineTuneMode) -> [Tensor] {
        let g = backbone.freezeGroups
        backbone.freeze()
        let trainable: [Tensor]
        switch mode {
        case .full: trainable = g.embeddings + g.blocks.flatMap { $0 } + g.top
        case .freeze(let k): trainable = g.blocks.dropFirst(k).flatMap { $0 } + g.top
        case .probe: trainable = []
        }
        for t in trainable { t.requiresGrad = true }
        head.requiresGrad = true
        headBias.requiresGrad = true
        return trainable + [head, headBias]
    }

    /// Pooled features `[B, d]` (recorded on the tape for trainable parts).
    public func features(_ xs: [TextPair], context: ForwardContext = .inference) -> Tensor {
        backbone.features(backbone.encodeInputs(xs, tokenizer: tokenizer), pooling: pooling, layer: layer, context: context)
    }

    /// `[B, d] → [B, C]`.
    public func logits(_ features: Tensor) -> Tensor { features.linear(head, headBias) }
}
