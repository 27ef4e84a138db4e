/// Reverse-mode differentiation.
///
/// Each op whose inputs need gradients records a ``Node`` on its result: the inputs, and a closure
/// that reads the result's gradient and adds to the inputs' gradients. Nodes are numbered in the
/// order they are created, so the records together form a tape; ``Tensor/backward(seed:)`` replays it
/// from the loss in reverse order. An op whose inputs need no gradient records nothing, which is
/// how frozen layers stop the backward pass.
import Synchronization

/// Node numbers, shared by every thread (data-parallel steps record two graphs at once).
let nodeCounter = Atomic<Int>(0)

public enum Autograd {
    nonisolated(unsafe) static var disabledDepth = 0

    /// The number of nodes recorded so far in this process (for tests and diagnostics: a frozen
    /// layer adds none).
    public static var recordedNodes: Int { nodeCounter.load(ordering: .relaxed) }

    /// Whether ops record nodes (false inside ``withNoGrad(_:)``).
    @inline(__always) public static var isEnabled: Bool { disabledDepth == 0 }

    /// Runs `body` in inference mode: no op records anything, results need no gradient.
    public static func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
        disabledDepth += 1
        defer { disabledDepth -= 1 }
        return try body()
    }

    /// Whether an op over `inputs` must record a node.
    @inline(__always)
    static func needsGrad(_ inputs: Tensor...) -> Bool {
        guard disabledDepth == 0 else { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }

    @inline(__always)
    static func needsGrad(_ inputs: [Tensor]) -> Bool {
        guard disabledDepth == 0 else { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }

    /// Records on `output` how to push its gradient to `inputs`.
    @inline(__always)
    static func record(_ output: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        let id = nodeCounter.add(1, ordering: .relaxed).newValue
        output.requiresGrad = true
        output.node = Node(id: id, inputs: inputs, backward: backward)
    }
}

/// One record of the tape.
final class Node {
    let id: Int
    let inputs: [Tensor]
    let backward: (Tensor) -> Void

    init(id: Int, inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        self.id = id
        self.inputs = inputs
        self.backward = backward
    }
}

extension Tensor {
    /// Back-propagates from this one-element tensor (the loss), adding `seed`·∂self/∂p to the
    /// gradient of every tensor `p` that requires one.
    ///
    /// Parameters' gradients accumulate across calls (gradient accumulation) until
    /// ``zeroGrad()``; the graph is released as it is replayed, together with the gradients of
    /// intermediate results (unless ``retainsGrad``).
    public func backward(seed: Float = 1) {
        check(count == 1, "backward() starts from a one-element loss, got shape \(shape)")
        guard requiresGrad else { return }
        withGradBuffer { g, acc in g[0] = acc ? g[0] + seed : seed }
        replayTape()
    }

    /// Back-propagates from this tensor's gradient as it stands (set by the caller): runs every
    /// recorded node reachable from here, newest first, releasing the graph as it goes.
    public func backwardFromCurrentGradient() {
        guard gradStorage != nil else { return }
        replayTape()
    }

    func replayTape() {
        // Collect every recorded node reachable from here, then run them newest first:
        // a node's result is always newer than its inputs, so this order is topological.
        var order: [Tensor] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [Tensor] = [self]
        while let t = stack.popLast() {
            guard let node = t.node, seen.insert(ObjectIdentifier(t)).inserted else { continue }
            order.append(t)
            for input in node.inputs where input.node != nil { stack.append(input) }
        }
        order.sort { $0.node!.id > $1.node!.id }
        for t in order {
            let node = t.node!
            t.node = nil
            if t.gradStorage != nil { node.backward(t) }
            if !t.retainsGrad { t.gradStorage = nil }
        }
    }
}
