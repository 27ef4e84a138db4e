/// What a forward pass needs besides its inputs: whether it is training (dropout on, batch-norm
/// batch statistics) and the random stream that dropout masks come from.
///
/// A reference type, so that every layer of one pass draws from the same stream in order; after
/// the pass, ``rng`` holds the advanced generator (the trainer checkpoints it).
public final class ForwardContext {
    /// Training mode (dropout active when ``rng`` is set; batch norm uses batch statistics).
    public var training: Bool
    /// Dropout's random stream; `nil` = no dropout even in training.
    public var rng: RandomGenerator?

    public init(training: Bool, rng: RandomGenerator? = nil) {
        self.training = training
        self.rng = rng
    }

    /// A new context for inference: no dropout, running statistics.
    public static var inference: ForwardContext { ForwardContext(training: false) }

    /// A training context whose dropout draws from `rng` (`nil`: training without dropout).
    public static func training(rng: RandomGenerator?) -> ForwardContext { ForwardContext(training: true, rng: rng) }

    /// Inverted dropout with probability `p` while training with a random stream; identity otherwise.
    public func dropout(_ x: Tensor, _ p: Float) -> Tensor {
        guard training, p > 0, rng != nil else { return x }
        return x.dropout(p, rng: &rng!)
    }
}
