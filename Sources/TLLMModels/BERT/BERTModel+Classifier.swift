import TLLMCore
import TLLMTokenizer

/// A BERT as a classifier backbone: `[CLS] A [SEP] (B [SEP])`, pooled through the pooler at
/// `[CLS]` (or the mean of the tokens).
extension BERTModel: ClassifierBackbone {
    public var blockCount: Int { blocks.count }

    public func encodeInputs(_ examples: [TextPair], tokenizer: Tokenizer) -> EncodedBatch {
        let cls = tokenizer.specialID("[CLS]") ?? 0, sep = tokenizer.specialID("[SEP]") ?? 0
        let seqs: [([Int32], [Int32])] = examples.map { e in
            var a = tokenizer.encode(e.text), b = e.textB.map { tokenizer.encode($0) } ?? []
            let budget = config.context - (b.isEmpty ? 2 : 3)
            while a.count + b.count > budget { if a.count >= b.count { a.removeLast() } else { b.removeLast() } }
            var ids = [cls] + a + [sep]
            var seg = [Int32](repeating: 0, count: ids.count)
            if !b.isEmpty { ids += b + [sep]; seg += [Int32](repeating: 1, count: b.count + 1) }
            return (ids, seg)
        }
        return Self.pad(seqs, padding: tokenizer.specialID("[PAD]") ?? 0)
    }

    public func features(_ x: EncodedBatch, pooling: Pooling, layer: Int?, context: ForwardContext) -> Tensor {
        let B = x.batch, T = x.length
        let h = encode(x.ids, segments: x.segments, lengths: x.lengths, batch: B, length: T, context: context, upTo: layer)
        if pooling == .mean { return Self.meanPool(h, lengths: x.lengths, B: B, T: T) }
        if layer == nil || layer == blocks.count { return pooled(h, batch: B, length: T) }
        return h.gatherRows((0..<B).map { Int32($0 * T) })
    }

    public var freezeGroups: (embeddings: [Tensor], blocks: [[Tensor]], top: [Tensor]) {
        (embeddingParameters, blocks.map(\.parameters), finalNorm.parameters + pooler.parameters)
    }
}
