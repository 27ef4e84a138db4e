import Foundation
import TLLMCore

/// Self-taught learning (Raina, Battle, Lee, Packer & Ng, ICML 2007): a dictionary learned on
/// unlabelled data of another distribution, the labelled data re-expressed as sparse codes
/// against it, and a logistic regression trained on the codes.
public struct SelfTaughtClassifier: Sendable {
    public var dictionary: FittedDictionary
    /// Codes for the classifier (default: the dictionary's own coder).
    public var coder: SparseCoder
    public var classifier: LogisticRegression

    /// A classifier over codes of `dictionary` (learned beforehand on the unlabelled data).
    public init(dictionary: FittedDictionary, coder: SparseCoder? = nil, classifier: LogisticRegression = LogisticRegression()) {
        self.dictionary = dictionary
        self.coder = coder ?? SparseCoder(method: dictionary.method, alpha: dictionary.alpha, positive: dictionary.positiveCodes)
        self.classifier = classifier
    }

    /// Learns the dictionary on `unlabelled` rows and wraps it.
    public init(unlabelled: Matrix, learner: DictionaryLearner, coder: SparseCoder? = nil) {
        self.init(dictionary: learner.fit(unlabelled), coder: coder)
    }

    /// The features the classifier sees: codes `[n, atoms]`.
    public func features(_ X: Matrix) -> Matrix { dictionary.transform(X, coder: coder) }

    /// Trains the classifier on the codes of labelled rows.
    public mutating func fit(_ X: Matrix, labels: [Int], classes: Int? = nil) {
        let U = features(X)
        classifier.fit(U.values, features: U.cols, labels: labels, classes: classes)
    }

    public func predict(_ X: Matrix) -> [Int] { classifier.predict(features(X).values) }
}
