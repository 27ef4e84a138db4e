import Foundation
import Synchronization

/// Worker threads that spin between jobs, for the many small parallel loops of batch-1 decoding
/// (hundreds per token, each tens of microseconds): waking a sleeping thread for each would cost
/// as much as the work. Workers spin for a while after each job, then sleep until the next.
///
/// `run(chunks:)` hands out chunk indices (an atomic counter) to the caller and the workers, and
/// returns when all are done; results must not depend on which thread took which chunk.
public final class SpinPool: @unchecked Sendable {
    /// One pool for the process, with `Threading.count − 1` workers.
    public static let shared = SpinPool(workers: max(0, Threading.count - 1))

    /// One call of `run`: its body and its own counters (a late worker can only touch these).
    final class Job: @unchecked Sendable {
        let body: (Int) -> Void
        let chunks: Int
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        init(_ body: @escaping (Int) -> Void, chunks: Int) { self.body = body; self.chunks = chunks }

        /// Takes chunks until none is left.
        func work() {
            while true {
                let c = next.add(1, ordering: .relaxed).oldValue
                if c >= chunks { return }
                body(c)
                done.add(1, ordering: .releasing)
            }
        }
    }

    let workers: Int
    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let slot = Mutex<Job?>(nil)
    private let wake = DispatchSemaphore(value: 0)
    private let caller = NSLock()
    /// How long a worker spins for the next job before sleeping.
    public let spinSeconds = 0.003

    init(workers: Int) {
        self.workers = workers
        for _ in 0..<workers {
            let t = Thread { [unowned self] in self.workerLoop() }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Runs `body(c)` for every chunk `c` in `0..<chunks`, on the caller and the workers.
    public func run(chunks n: Int, _ body: @escaping (Int) -> Void) {
        guard workers > 0, n > 1, !Threading.isSerial else { for c in 0..<n { body(c) }; return }
        caller.lock()  // one job at a time
        defer { caller.unlock() }
        let job = Job(body, chunks: n)
        slot.withLock { $0 = job }
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 { for _ in 0..<workers { wake.signal() } }
        job.work()
        while job.done.load(ordering: .acquiring) < n {}
    }

    private func workerLoop() {
        var seen = 0
        while true {
            let deadline = Clock.now() + spinSeconds
            var g = generation.load(ordering: .acquiring)
            var spins = 0
            while g == seen {
                spins += 1
                if spins & 255 == 0 && Clock.now() > deadline { break }
                g = generation.load(ordering: .acquiring)
            }
            if g == seen {
                sleepers.add(1, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen { wake.wait() }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                continue
            }
            seen = g
            slot.withLock { $0 }?.work()
        }
    }
}
