import Foundation
import TLLMCore
import TLLMTokenizer

/// A corpus cut into tokenized segments (speeches, verses, paragraphs), split into training and
/// validation documents — the units BERT's sentence pairs are made of.
public struct SegmentedCorpus {
    /// `documents[d][s]` = tokens of segment `s` of document `d`.
    public var train: [[[Int32]]]
    public var validation: [[[Int32]]]

    public init(train: [[[Int32]]], validation: [[[Int32]]]) {
        self.train = train
        self.validation = validation
    }

    public static func make(_ corpus: Corpus, tokenizer: Tokenizer, validationFraction: Double) -> SegmentedCorpus {
        let held = Set(corpus.validationIndices(fraction: validationFraction))
        var texts: [String] = [], owner: [Int] = []
        for (d, doc) in corpus.documents.enumerated() {
            for s in doc.segments { texts.append(String(decoding: doc.text[s], as: UTF8.self)); owner.append(d) }
        }
        let enc = tokenizer.encodeDocuments(texts)
        var docs = [[[Int32]]](repeating: [], count: corpus.documents.count)
        for (i, e) in enc.enumerated() where !e.isEmpty { docs[owner[i]].append(e) }
        var train: [[[Int32]]] = [], val: [[[Int32]]] = []
        for (d, segs) in docs.enumerated() where !segs.isEmpty { if held.contains(d) { val.append(segs) } else { train.append(segs) } }
        if val.isEmpty, let last = train.popLast() { val = [last] }  // a single-document corpus: hold out its last part
        return SegmentedCorpus(train: train, validation: val)
    }
}
