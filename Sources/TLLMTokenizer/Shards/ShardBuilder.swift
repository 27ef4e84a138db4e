/// Joins encoded documents into a training and a validation stream.
public enum ShardBuilder {
    public struct Split {
        public var train: [Int32]
        public var validation: [Int32]
        /// Indices of the documents held out (empty when the tail of a single document was used).
        public var validationDocuments: [Int]
    }

    /// With at least k documents, every k-th document (k = round(1/fraction), starting at k−1) goes
    /// to validation; with fewer, the last `fraction` of the tokens. Documents are separated by `separator`.
    public static func split(documents: [[Int32]], separator: Int32?, validationFraction f: Double) -> Split {
        var train: [Int32] = [], val: [Int32] = []
        var held: [Int] = []
        func append(_ d: [Int32], to s: inout [Int32]) {
            if let sep = separator, !s.isEmpty { s.append(sep) }
            s.append(contentsOf: d)
        }
        let k = max(2, Int((f > 0 ? 1 / f : 1).rounded()))
        if documents.count >= k && f > 0 {
            for (i, d) in documents.enumerated() {
                if i % k == k - 1 { append(d, to: &val); held.append(i) } else { append(d, to: &train) }
            }
        } else {
            for d in documents { append(d, to: &train) }
            let cut = Int(Double(train.count) * (1 - f))
            val = Array(train[cut...])
            train = Array(train[..<cut])
        }
        return Split(train: train, validation: val, validationDocuments: held)
    }
}
