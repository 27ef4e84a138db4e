import Foundation
import TLLMCore

/// How good frozen features are with few labels: a linear probe (multinomial logistic regression,
/// standardized features) and a k-nearest-neighbour vote (cosine similarity, k = 5, weighted by
/// similarity; with fewer than 5 labels per class it is in effect 1-NN).
public enum FeatureProbe {
    public struct Result: Codable, Sendable, Equatable {
        public var linearAccuracy: Double
        public var knnAccuracy: Double
        enum CodingKeys: String, CodingKey { case linearAccuracy = "linear_accuracy", knnAccuracy = "knn_accuracy" }
    }

    public static func evaluate(train: [Float], trainLabels: [Int], test: [Float], testLabels: [Int], features d: Int,
                                classes: Int, k: Int = 5) -> Result {
        var lr = LogisticRegression(C: 1, maxIterations: 500)
        lr.fit(train, features: d, labels: trainLabels, classes: classes)
        let linear = zip(lr.predict(test), testLabels).filter { $0 == $1 }.count
        let knn = zip(nearestNeighbours(train: train, labels: trainLabels, test: test, features: d, classes: classes, k: k), testLabels)
            .filter { $0 == $1 }.count
        return Result(linearAccuracy: Double(linear) / Double(testLabels.count), knnAccuracy: Double(knn) / Double(testLabels.count))
    }

    /// The k-NN predictions (cosine similarity, similarity-weighted votes).
    public static func nearestNeighbours(train: [Float], labels: [Int], test: [Float], features d: Int, classes: Int, k: Int) -> [Int] {
        let a = normalized(train, d), b = normalized(test, d)
        let n = labels.count, m = b.count / d
        var sims = [Float](repeating: 0, count: m * n)                                  // [m, n] = B·Aᵀ
        sims.withUnsafeMutableBufferPointer { s in
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
                GEMM.sgemm(transA: false, transB: true, m: m, n: n, k: d, a: bp.baseAddress!, lda: d, b: ap.baseAddress!, ldb: d,
                           c: s.baseAddress!, ldc: n)
            } }
        }
        return (0..<m).map { i in
            let row = sims[(i * n)..<((i + 1) * n)]
            let top = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            var votes = [Double](repeating: 0, count: classes)
            for j in top { votes[labels[j - i * n]] += Double(row[j]) }
            let best = votes.indices.max { votes[$0] < votes[$1] || (votes[$0] == votes[$1] && $0 > $1) }!
            return best
        }
    }

    static func normalized(_ x: [Float], _ d: Int) -> [Float] {
        var y = x
        for r in 0..<(x.count / d) {
            var s: Float = 0
            for j in 0..<d { s += x[r * d + j] * x[r * d + j] }
            let inv = 1 / max(s.squareRoot(), 1e-12)
            for j in 0..<d { y[r * d + j] *= inv }
        }
        return y
    }
}
