import TLLMCore

/// A decoder-only transformer as inference loops see it: per block a norm, a fused QKV
/// projection, attention settings, an output projection, and an MLP; any of the linear maps may
/// hold f32 or quantized weights. tllm's GPT and a model read from GGUF both describe themselves
/// this way, so one KV-cache decoder (``TransformerDecoder``) runs them all.
public struct DecoderStack {
    public struct Block {
        public var norm1: any NormLayer
        public var qkv: any RowLinear              // [(H + 2·KV)·hd, d]
        public var proj: any RowLinear             // [d, H·hd]
        public var heads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var rotary: RotaryEmbedding?
        public var norm2: (any NormLayer)?
        public var gate: (any RowLinear)?          // c_fc (GELU) or w_gate (SwiGLU)  [h, d]
        public var up: (any RowLinear)?            // w_up (SwiGLU)                    [h, d]
        public var down: (any RowLinear)?          // c_proj                           [d, h]
        public var activation: MLP.Activation

        public init(norm1: any NormLayer, qkv: any RowLinear, proj: any RowLinear, heads: Int, kvHeads: Int, headDim: Int,
                    rotary: RotaryEmbedding?, norm2: (any NormLayer)?, gate: (any RowLinear)?, up: (any RowLinear)?,
                    down: (any RowLinear)?, activation: MLP.Activation) {
            self.norm1 = norm1; self.qkv = qkv; self.proj = proj; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
            self.rotary = rotary; self.norm2 = norm2; self.gate = gate; self.up = up; self.down = down; self.activation = activation
        }
    }

    public var vocabularySize: Int
    public var dModel: Int
    public var context: Int
    /// Writes token `id`'s embedding row into a buffer of `dModel` floats.
    public var embed: (Int32, UnsafeMutablePointer<Float>) -> Void
    /// Learned position embeddings `[context, d]`, or nil (RoPE).
    public var positions: Tensor?
    public var blocks: [Block]
    public var finalNorm: any NormLayer
    public var output: any RowLinear                 // [V, d]

    public init(vocabularySize: Int, dModel: Int, context: Int, embed: @escaping (Int32, UnsafeMutablePointer<Float>) -> Void,
                positions: Tensor?, blocks: [Block], finalNorm: any NormLayer, output: any RowLinear) {
        self.vocabularySize = vocabularySize; self.dModel = dModel; self.context = context; self.embed = embed
        self.positions = positions; self.blocks = blocks; self.finalNorm = finalNorm; self.output = output
    }

    /// The widest MLP.
    var mlpHidden: Int { blocks.compactMap { $0.gate?.outFeatures }.max() ?? 0 }
    var qkvWidth: Int { blocks.map(\.qkv.outFeatures).max() ?? 0 }
    var attentionWidth: Int { blocks.map { $0.heads * $0.headDim }.max() ?? 0 }
}

extension GPTModel {
    /// This model's weights as a decoder stack (shared, not copied).
    public var decoderStack: DecoderStack { decoderStack(quantizedTo: nil) }

    /// The decoder stack with every matrix stored as `type` (as `tllm quantize` writes them;
    /// nil: the f32 weights themselves).
    public func decoderStack(quantizedTo type: QuantType?) -> DecoderStack {
        let c = config
        let wte = tokenEmbedding.weight, d = c.dModel
        func q(_ l: Linear) -> any RowLinear {
            guard let type, l.inFeatures % type.blockSize == 0 else { return l }
            return QuantizedLinear(QuantizedMatrix(quantizing: l.weight.data, rows: l.outFeatures, cols: l.inFeatures, type: type), bias: l.bias)
        }
        let blocks = self.blocks.map { b in
            DecoderStack.Block(norm1: b.norm1, qkv: q(b.attn.qkv), proj: q(b.attn.proj), heads: b.attn.heads, kvHeads: b.attn.kvHeads,
                               headDim: b.attn.headDim, rotary: b.attn.rotary, norm2: b.norm2, gate: b.mlp.map { q($0.fc) },
                               up: b.mlp?.up.map(q), down: b.mlp.map { q($0.proj) }, activation: b.mlp?.activation ?? .gelu)
        }
        let output = q(outputHead ?? Linear(weight: wte))
        let embed: (Int32, UnsafeMutablePointer<Float>) -> Void
        if let table = (output as? QuantizedLinear)?.weight, outputHead == nil {
            embed = { id, out in table.decodeRow(Int(id), into: out) }
        } else {
            embed = { id, out in out.update(from: wte.data + Int(id) * d, count: d) }
        }
        return DecoderStack(vocabularySize: c.vocabSize, dModel: d, context: c.context, embed: embed,
                            positions: positionEmbedding?.weight, blocks: blocks, finalNorm: finalNorm, output: output)
    }
}
