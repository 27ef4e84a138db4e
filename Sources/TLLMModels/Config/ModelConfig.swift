import Foundation
import TLLMCore

/// The architecture of a transformer language model, as stored in `config.json`.
///
/// GPT-2 defaults: learned positions, pre-LayerNorm blocks, GELU (tanh) MLP of 4×d, biases, output
/// tied to the token embedding. `norm: rmsnorm`, `activation: swiglu` and `positions: rope` build
/// Llama-style blocks from the same parts.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// The model family, as `config.json` names it. An architecture is declared in its own file
    /// (`extension ModelConfig.Architecture { static let name = … }`) and registered in
    /// ``ModelRegistry``.
    public struct Architecture: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ name: String) { rawValue = name }
        public var description: String { rawValue }
        /// A causal decoder (GPT-2, or Llama-style with RMSNorm / SwiGLU / RoPE / GQA).
        public static let gpt = Architecture("gpt")
        /// A bidirectional encoder with masked-LM and NSP heads.
        public static let bert = Architecture("bert")
    }
    public enum Norm: String, Codable, Sendable, CaseIterable { case layernorm, rmsnorm }
    public typealias Activation = MLP.Activation
    public enum Positions: String, Codable, Sendable, CaseIterable { case learned, rope }

    public var architecture: Architecture = .gpt
    public var vocabSize: Int
    /// Maximum sequence length (positions).
    public var context: Int
    public var layers: Int
    public var dModel: Int
    public var heads: Int
    /// Key/value heads (grouped-query attention when fewer than `heads`; `heads` divides by it).
    /// Follows `heads` unless set to something else.
    public var kvHeads: Int {
        get { groupedKVHeads ?? heads }
        set { groupedKVHeads = newValue == heads ? nil : newValue }
    }
    var groupedKVHeads: Int?
    /// MLP hidden width (4·d for GELU; about 8/3·d, a multiple of 64, for SwiGLU).
    public var mlpHidden: Int
    public var norm: Norm = .layernorm
    public var activation: Activation = .gelu
    public var positions: Positions = .learned
    /// Biases in linear layers and norms.
    public var bias: Bool = true
    public var dropout: Float = 0
    public var normEps: Float = 1e-5
    public var ropeBase: Float = 10_000
    /// Which coordinates RoPE rotates together (`half`: GPT-NeoX / HF; `interleaved`: GGUF Llama).
    public var ropeStyle: RotaryStyle = .halfSplit
    /// Blocks without their MLP sub-layer (attention-only transformers, for in-context-learning studies).
    public var attentionOnly = false
    /// The output layer is the token embedding (GPT-2, SmolLM2); otherwise a separate `lm_head`.
    public var tiedEmbeddings = true
    /// BERT: number of segment (token type) embeddings; 0 for GPT.
    public var segments: Int = 0

    enum CodingKeys: String, CodingKey {
        case architecture, vocabSize = "vocab_size", context, layers, dModel = "d_model", heads
        case mlpHidden = "mlp_hidden", norm, activation, positions, bias, dropout, normEps = "norm_eps"
        case ropeBase = "rope_base", segments, kvHeads = "kv_heads", ropeStyle = "rope_style"
        case attentionOnly = "attention_only", tiedEmbeddings = "tied_embeddings"
    }

    /// Fields added after the first release are optional in the file (older configs load as
    /// before) and written only when they differ from their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(Architecture.self, forKey: .architecture)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        context = try c.decode(Int.self, forKey: .context)
        layers = try c.decode(Int.self, forKey: .layers)
        dModel = try c.decode(Int.self, forKey: .dModel)
        heads = try c.decode(Int.self, forKey: .heads)
        groupedKVHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
        mlpHidden = try c.decode(Int.self, forKey: .mlpHidden)
        norm = try c.decode(Norm.self, forKey: .norm)
        activation = try c.decode(Activation.self, forKey: .activation)
        positions = try c.decode(Positions.self, forKey: .positions)
        bias = try c.decode(Bool.self, forKey: .bias)
        dropout = try c.decode(Float.self, forKey: .dropout)
        normEps = try c.decode(Float.self, forKey: .normEps)
        ropeBase = try c.decode(Float.self, forKey: .ropeBase)
        segments = try c.decode(Int.self, forKey: .segments)
        ropeStyle = try c.decodeIfPresent(RotaryStyle.self, forKey: .ropeStyle) ?? .halfSplit
        attentionOnly = try c.decodeIfPresent(Bool.self, forKey: .attentionOnly) ?? false
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? true
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(context, forKey: .context)
        try c.encode(layers, forKey: .layers)
        try c.encode(dModel, forKey: .dModel)
        try c.encode(heads, forKey: .heads)
        if kvHeads != heads { try c.encode(kvHeads, forKey: .kvHeads) }
        try c.encode(mlpHidden, forKey: .mlpHidden)
        try c.encode(norm, forKey: .norm)
        try c.encode(activation, forKey: .activation)
        try c.encode(positions, forKey: .positions)
        try c.encode(bias, forKey: .bias)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(normEps, forKey: .normEps)
        try c.encode(ropeBase, forKey: .ropeBase)
        try c.encode(segments, forKey: .segments)
        if ropeStyle != .halfSplit { try c.encode(ropeStyle, forKey: .ropeStyle) }
        if attentionOnly { try c.encode(attentionOnly, forKey: .attentionOnly) }
        if !tiedEmbeddings { try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings) }
    }

    public init(architecture: Architecture = .gpt, vocabSize: Int, context: Int, layers: Int, dModel: Int, heads: Int,
                mlpHidden: Int? = nil, norm: Norm = .layernorm, activation: Activation = .gelu,
                positions: Positions = .learned, bias: Bool = true, dropout: Float = 0, segments: Int = 0) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.context = context
        self.layers = layers
        self.dModel = dModel
        self.heads = heads
        self.mlpHidden = mlpHidden ?? (activation == .gelu ? 4 * dModel : ModelConfig.swigluHidden(dModel))
        self.norm = norm
        self.activation = activation
        self.positions = positions
        self.bias = bias
        self.dropout = dropout
        self.segments = segments
    }

    /// SwiGLU width with the same parameter count as a 4·d GELU MLP: 8/3·d rounded up to 64.
    public static func swigluHidden(_ d: Int) -> Int { ((8 * d / 3) + 63) / 64 * 64 }

    public var headDim: Int { dModel / heads }

    /// Checks the configuration; the message says which field is wrong.
    public func validate() throws {
        func fail(_ s: String) -> TLLMError { TLLMError("invalid model config: \(s)") }
        guard ModelRegistry.isRegistered(architecture) else {
            throw fail("unknown architecture '\(architecture)' (known: \(ModelRegistry.architectures.map(\.rawValue).joined(separator: ", ")))")
        }
        // Ranges first, so that nothing below multiplies absurd sizes.
        func range(_ name: String, _ v: Int, _ r: ClosedRange<Int>) throws {
            guard r.contains(v) else { throw fail("\(name) = \(v) is outside \(r.lowerBound)…\(r.upperBound)") }
        }
        try range("vocab_size", vocabSize, 1...(1 << 24))
        try range("context", context, 1...(1 << 20))
        try range("layers", layers, 0...4096)
        try range("d_model", dModel, 1...(1 << 16))
        try range("heads", heads, 1...4096)
        try range("mlp_hidden", mlpHidden, 1...(1 << 18))
        try range("segments", segments, 0...64)
        guard normEps.isFinite, normEps > 0, normEps < 1 else { throw fail("norm_eps = \(normEps) must be in (0, 1)") }
        guard ropeBase.isFinite, ropeBase > 1 else { throw fail("rope_base = \(ropeBase) must be greater than 1") }
        guard dModel % heads == 0 else { throw fail("d_model \(dModel) must be a positive multiple of heads \(heads)") }
        guard kvHeads >= 1, heads % kvHeads == 0 else { throw fail("heads \(heads) must be a multiple of kv_heads \(kvHeads)") }
        guard positions != .rope || headDim % 2 == 0 else { throw fail("rope needs an even head size") }
        guard mlpHidden > 0 else { throw fail("mlp_hidden must be positive") }
        guard dropout.isFinite, dropout >= 0 && dropout < 1 else { throw fail("dropout must be in [0, 1)") }
    }

    // MARK: - Memory

    /// Bytes a model of this configuration needs: f32 weights, for training also their gradients
    /// and AdamW's two moments, and the activations of a step (`batch` sequences of `tokens`;
    /// a generous estimate: about 20 floats per position, layer and width, plus the logits).
    public func memoryEstimate(training: Bool, batch: Int = 1, tokens: Int? = nil) -> Double {
        let weights = 4 * Double(parameters)
        let t = Double(tokens ?? context), b = Double(batch)
        let perLayer = 20 * Double(dModel) + 4 * Double(mlpHidden) + Double(heads) * t   // per position
        let activations = 4 * b * t * (Double(layers) * perLayer + 3 * Double(vocabSize))
        let kvCache = 2 * 4 * Double(layers) * t * Double(kvHeads * headDim)
        return training ? 4 * weights + activations : weights + kvCache + 4 * t * (Double(dModel) * 8 + Double(vocabSize))
    }

    /// Refuses a model that cannot fit in this machine's memory, before anything is allocated.
    public func checkFitsInMemory(training: Bool, batch: Int = 1, tokens: Int? = nil) throws {
        let need = memoryEstimate(training: training, batch: batch, tokens: tokens)
        let have = Double(ProcessInfo.processInfo.physicalMemory)
        guard need <= 0.9 * have else {
            throw TLLMError(String(format: "this model needs about %.3g GB to %@ (%d layers, d_model %d, context %d, %@ parameters) but the machine has %.3g GB",
                                   need / 1e9, training ? "train at this batch size" : "run", layers, dModel, context, formatCount(parameters), have / 1e9))
        }
    }

    // MARK: - Parameter counts

    /// Parameters of one transformer block.
    public var blockParameters: Int {
        let d = dModel, h = mlpHidden
        let b = bias ? 1 : 0
        let normP = (norm == .layernorm && bias) ? 2 * d : d
        let qkv = (heads + 2 * kvHeads) * headDim
        let attn = qkv * d + b * qkv + d * d + b * d
        if attentionOnly { return normP + attn }
        let mlp = activation == .gelu ? (d * h + b * h + h * d + b * d) : (3 * d * h + b * (2 * h + d))
        return 2 * normP + attn + mlp
    }

    /// Token embedding parameters (tied with the output layer, counted once).
    public var tokenEmbeddingParameters: Int { vocabSize * dModel }
    /// Learned position embedding parameters (0 with RoPE).
    public var positionEmbeddingParameters: Int { positions == .learned ? context * dModel : 0 }

    /// Everything that trains (tied embedding counted once).
    public var parameters: Int {
        let normP = (norm == .layernorm && bias) ? 2 * dModel : dModel
        var n = tokenEmbeddingParameters + positionEmbeddingParameters + layers * blockParameters + normP
        if !tiedEmbeddings { n += vocabSize * dModel }
        n += segments * dModel
        if architecture == .bert {
            // MLM head transform (dense + norm) and output bias; pooler + NSP classifier.
            n += dModel * dModel + dModel + normP + vocabSize
            n += dModel * dModel + dModel + 2 * dModel + 2
        }
        return n
    }

    /// Parameters excluding token and position embeddings (Kaplan et al.'s N).
    public var nonEmbeddingParameters: Int {
        parameters - tokenEmbeddingParameters - positionEmbeddingParameters - segments * dModel
    }

    /// Model FLOPs per token for training, as nanoGPT / PaLM count them:
    /// `6·N + 12·L·H·Q·T` with N = parameters except position embeddings (the tied embedding is the
    /// LM head's matrix), Q the head size and T the context.
    public func trainingFLOPsPerToken(context T: Int? = nil) -> Double {
        let n = Double(parameters - positionEmbeddingParameters)
        return 6 * n + 12 * Double(layers) * Double(heads) * Double(headDim) * Double(T ?? context)
    }
}
