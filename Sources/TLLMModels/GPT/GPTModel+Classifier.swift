import TLLMCore
import TLLMTokenizer

/// A GPT as a classifier backbone: `text \n\n text_b <|endoftext|>`, pooled at the last real
/// token (or the mean).
extension GPTModel: ClassifierBackbone {
    public var blockCount: Int { blocks.count }

    public func encodeInputs(_ examples: [TextPair], tokenizer: Tokenizer) -> EncodedBatch {
        let eot = tokenizer.specialID("<|endoftext|>") ?? 0
        let seqs: [([Int32], [Int32])] = examples.map { e in
            var ids = tokenizer.encode(e.text + (e.textB.map { "\n\n" + $0 } ?? "")) + [eot]
            if ids.count > config.context { ids = Array(ids.suffix(config.context)) }
            return (ids, [Int32](repeating: 0, count: ids.count))
        }
        return Self.pad(seqs, padding: tokenizer.specialID("[PAD]") ?? 0)
    }

    public func features(_ x: EncodedBatch, pooling: Pooling, layer: Int?, context: ForwardContext) -> Tensor {
        let B = x.batch, T = x.length
        let h = hidden(x.ids, batch: B, length: T, context: context, upTo: layer)                  // [B·T, d]
        switch pooling {
        case .last: return h.gatherRows((0..<B).map { Int32($0 * T + x.lengths[$0] - 1) })      // [B, d]
        case .mean: return Self.meanPool(h, lengths: x.lengths, B: B, T: T)                      // [B, d]
        }
    }

    public var freezeGroups: (embeddings: [Tensor], blocks: [[Tensor]], top: [Tensor]) {
        ([tokenEmbedding.weight] + (positionEmbedding.map { [$0.weight] } ?? []), blocks.map(\.parameters), finalNorm.parameters)
    }
}
