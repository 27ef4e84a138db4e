import Foundation
import TLLMCore

/// The architecture of a transformer language model, as stored in `config.json`.
///
/// GPT-2 defaults: learned positions, pre-LayerNorm blocks, GELU (tanh) MLP of 4×d, biases, output
/// tied to the token embedding. `norm: rmsnorm`, `activation: swiglu` and `positions: rope` build
/// Llama-style blocks from the same parts.
public struct ModelConfig: Codable, Equatable, Sendable {
    public enum Architecture: String, Codable, Sendable { case gpt, bert }
    public enum Norm: String, Codable, Sendable { case layernorm, rmsnorm }
    public enum Activation: String, Codable, Sendable { case gelu, swiglu }
    public enum Positions: String, Codable, Sendable { case learned, rope }

    public var architecture: Architecture = .gpt
    public var vocabSize: Int
    /// Maximum sequence length (positions).
    public var context: Int
    public var layers: Int
    public var dModel: Int
    public var heads: Int
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
    /// BERT: number of segment (token type) embeddings; 0 for GPT.
    public var segments: Int = 0

    enum CodingKeys: String, CodingKey {
        case architecture, vocabSize = "vocab_size", context, layers, dModel = "d_model", heads
        case mlpHidden = "mlp_hidden", norm, activation, positions, bias, dropout, normEps = "norm_eps"
        case ropeBase = "rope_base", segments
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
        guard vocabSize > 0 else { throw fail("vocab_size must be positive") }
        guard context > 0 else { throw fail("context must be positive") }
        guard layers >= 0 else { throw fail("layers must be ≥ 0") }
        guard dModel > 0, heads > 0, dModel % heads == 0 else { throw fail("d_model \(dModel) must be a positive multiple of heads \(heads)") }
        guard positions != .rope || headDim % 2 == 0 else { throw fail("rope needs an even head size") }
        guard mlpHidden > 0 else { throw fail("mlp_hidden must be positive") }
        guard dropout >= 0 && dropout < 1 else { throw fail("dropout must be in [0, 1)") }
    }

    // MARK: - Parameter counts

    /// Parameters of one transformer block.
    public var blockParameters: Int {
        let d = dModel, h = mlpHidden
        let b = bias ? 1 : 0
        let normP = (norm == .layernorm && bias) ? 2 * d : d
        let attn = 3 * d * d + b * 3 * d + d * d + b * d
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
