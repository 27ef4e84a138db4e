import Foundation
import TLLMCore

/// MoCo's dictionary: a FIFO ring of the last `capacity` keys `[capacity, D]`. Keys are enqueued
/// after the loss that used the queue; the oldest are overwritten. Starts with random unit keys
/// (as MoCo does), so the queue is full from the first step.
public final class KeyQueue {
    public let capacity: Int
    public let dimension: Int
    /// `[capacity, D]`; row `(head + i) % capacity` is the i-th oldest key.
    public let keys: Tensor
    /// Where the next key goes.
    public private(set) var head = 0

    public init(capacity: Int, dimension: Int, rng: inout RandomGenerator) {
        check(capacity > 0 && dimension > 0, "KeyQueue: capacity \(capacity), dimension \(dimension)")
        self.capacity = capacity; self.dimension = dimension
        keys = Autograd.withNoGrad { Tensor.randn([capacity, dimension], rng: &rng).l2Normalized() }
    }

    /// Adds `batch` `[B, D]` (L2-normalised here), overwriting the oldest rows.
    public func enqueue(_ batch: Tensor) {
        check(batch.rank == 2 && batch.shape[1] == dimension && batch.shape[0] <= capacity,
              "KeyQueue.enqueue: \(batch.shape) into [\(capacity), \(dimension)]")
        let b = Autograd.withNoGrad { batch.detached().l2Normalized() }
        for r in 0..<b.shape[0] {
            (keys.data + head * dimension).update(from: b.data + r * dimension, count: dimension)
            head = (head + 1) % capacity
        }
    }
}
