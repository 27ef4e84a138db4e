/// Reverse-mode differentiation.
///
/// Each op whose inputs need gradients records a ``Node`` on its result: the inputs, and a closure
/// that reads the result's gradient and adds to the inputs' gradients. Nodes are numbered in the
/// order they are created, so the records together form a tape; ``Tensor/backward(seed:)`` replays it
/// from the loss in reverse order. An op whose inputs need no gradient records nothing, which is
/// how frozen layers stop the backward pass.
import Foundation
import Synchronization

/// Node numbers, shared by every thread (data-parallel steps record two graphs at once).
let nodeCounter = Atomic<Int>(0)

/// Per-thread grad mode: how many ``Autograd/withNoGrad(_:)`` regions the calling thread is in.
/// Thread-local, because data-parallel workers record two graphs at once while another thread may
/// be evaluating without gradients.
private let noGradDepthKey: pthread_key_t = {
    var k = pthread_key_t()
    pthread_key_create(&k, nil)
    return k
}()

/// Reverse-mode bookkeeping, and the public way to add a differentiable op.
///
/// An op computes its result eagerly; if ``needsGradient(_:)`` says any input takes part in
/// differentiation, it calls ``record(_:inputs:backward:)`` with a closure that reads the result's
/// gradient (`out.gradStorage`) and adds into each input's (``Tensor/withGradBuffer(_:)``). That is
/// all an op outside `TLLMCore` needs too — see ``Tensor/custom(_:forward:backward:)``.
public enum Autograd {
    /// The number of nodes recorded so far in this process (for tests and diagnostics: a frozen
    /// layer adds none).
    public static var recordedNodes: Int { nodeCounter.load(ordering: .relaxed) }

    @inline(__always) static var noGradDepth: Int {
        get { Int(bitPattern: pthread_getspecific(noGradDepthKey)) }
        set { pthread_setspecific(noGradDepthKey, UnsafeRawPointer(bitPattern: newValue)) }
    }

    /// Whether ops on the calling thread record nodes (false inside ``withNoGrad(_:)``).
    @inline(__always) public static var isEnabled: Bool { noGradDepth == 0 }

    /// Runs `body` in inference mode on the calling thread: no op records anything, results need
    /// no gradient. Other threads keep their own mode.
    public static func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
        noGradDepth += 1
        defer { noGradDepth -= 1 }
        return try body()
    }

    /// Whether an op over `inputs` must record a node: grad mode is on for this thread and some
    /// input requires a gradient.
    @inline(__always)
    public static func needsGradient(_ inputs: [Tensor]) -> Bool {
        guard noGradDepth == 0 else { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }

    @inline(__always)
    static func needsGrad(_ inputs: Tensor...) -> Bool { needsGradient(inputs) }

    @inline(__always)
    static func needsGrad(_ inputs: [Tensor]) -> Bool { needsGradient(inputs) }

    /// Records on `output` how to push its gradient to `inputs`: `backward(output)` runs once
    /// during ``Tensor/backward(seed:)``, after every consumer of `output` has added its share to
    /// `output.gradStorage`.
    @inline(__always)
    public static func record(_ output: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        let id = nodeCounter.add(1, ordering: .relaxed).newValue
        output.requiresGrad = true
        output.node = Node(id: id, inputs: inputs, backward: backward)
    }
}

extension Tensor {
    /// A differentiable op defined outside the core: `forward` computes the result from the
    /// inputs' values; `backward(inputs, output, dOutput)` adds each input's gradient, typically
    /// with `input.withGradBuffer { g, accumulate in … }` for the inputs that `requiresGrad`.
    ///
    ///     let y = Tensor.custom([x]) { xs in square(xs[0]) } backward: { xs, y, dy in
    ///         xs[0].withGradBuffer { g, acc in for i in 0..<y.count { put(g, i, 2 * xs[0][flat: i] * dy[i], acc) } }
    ///     }
    public static func custom(_ inputs: [Tensor], forward: ([Tensor]) -> Tensor,
                              backward: @escaping (_ inputs: [Tensor], _ output: Tensor, _ dOutput: UnsafePointer<Float>) -> Void) -> Tensor {
        let out = Autograd.withNoGrad { forward(inputs) }
        let result = out.node == nil && !out.requiresGrad ? out : out.detached()
        if Autograd.needsGradient(inputs) {
            Autograd.record(result, inputs: inputs) { o in backward(inputs, o, o.gradStorage!.pointer) }
        }
        return result
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
