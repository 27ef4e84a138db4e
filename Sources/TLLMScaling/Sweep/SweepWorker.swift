import Foundation
import TLLMCore
import TLLMTraining

/// Running the cells of a planned sweep as independent jobs: one cell (`--cell I`, for Slurm
/// array tasks and Kubernetes indexed jobs), or a worker that claims cells until none is left
/// (`--worker`). Any number of either may share one sweep folder across machines: a cell runs
/// only under a live claim (`CellClaim`), a claim whose lease lapsed is taken over and the cell
/// resumes from its own last checkpoint, and a finished cell is never run again.
extension SweepRunner {
    /// Where the claims live.
    var claimsFolder: URL { root.appendingPathComponent("claims") }
    /// Where failures are recorded (one file per cell, the error's message).
    var failuresFolder: URL { root.appendingPathComponent("failed") }

    /// What became of a cell this process was asked to run.
    public enum CellOutcome: Equatable {
        case finished, alreadyFinished, failed(String), interrupted
        case busy(String)
    }

    /// Runs cell `index` of the plan under a claim. `busy` if a live worker holds it.
    public func runCell(index: Int, lease: Double) throws -> CellOutcome {
        let cells = try grid.cells()
        guard cells.indices.contains(index) else {
            throw TLLMError("cell \(index) is out of range: the sweep has cells 0…\(cells.count - 1)", file: root.appendingPathComponent("sweep.json").path)
        }
        return try runClaimed(cells[index], lease: lease)
    }

    /// Claims and runs cells, largest compute first (the longest cells bound the sweep's wall time
    /// on many machines, so they start first), until every cell is finished, failed or
    /// held by a live worker; then waits for held cells (a dead holder's lease lapses and this
    /// worker takes its cell over). Returns the cells this worker finished.
    public func work(lease: Double, poll: Double? = nil, log: (String) -> Void) throws -> [String] {
        let cells = try grid.cells().reversed()
        var mine: [String] = []
        while true {
            var waiting: [String] = []
            for c in cells where finishedRow(c) == nil && !failed(c) {
                switch try runClaimed(c, lease: lease) {
                case .finished: mine.append(c.id); log("\(c.id): finished")
                case .failed(let why): log("\(c.id): failed: \(why)")
                case .interrupted: return mine
                case .busy(let who): waiting.append("\(c.id) (\(who))")
                case .alreadyFinished: break
                }
            }
            if waiting.isEmpty { return mine }
            log("waiting for cells held by other workers: \(waiting.joined(separator: ", "))")
            Thread.sleep(forTimeInterval: poll ?? max(1, lease / 4))
            if Interrupt.requested { return mine }
        }
    }

    func failed(_ c: SweepGrid.Cell) -> Bool {
        FileManager.default.fileExists(atPath: failuresFolder.appendingPathComponent(c.id).path)
    }

    func runClaimed(_ c: SweepGrid.Cell, lease: Double) throws -> CellOutcome {
        if finishedRow(c) != nil { return .alreadyFinished }
        let (claim, holder, previous) = try CellClaim.acquire(cell: c.id, in: claimsFolder, lease: lease, onLost: { [id = c.id] in
            // Another worker holds the cell now (this process stalled past its lease): stop at
            // once; checkpoints are written atomically, and any of them lies on the same trajectory.
            FileHandle.standardError.write("tllm sweep: \(id): lost the claim (lease expired); stopping this worker\n".data(using: .utf8)!)
            exit(75)
        })
        guard let claim else { return .busy(holder?.description ?? "being claimed") }
        defer { claim.release() }
        // Finished (or failed) between our check and our claim (its owner records it, then releases).
        if finishedRow(c) != nil { return .alreadyFinished }
        if failed(c) { return .failed("recorded by another worker") }
        if let previous {
            progress.message("sweep: \(c.id): the lease of \(previous) lapsed; taking the cell over")
            RunLock.breakLock(cellDirectory(c), heldBy: previous.host, pid: previous.pid)
        }
        do {
            let summary = try train(c)
            do { try writeTables(try grid.cells()) } catch {
                progress.message("sweep: \(c.id) finished, but the tables could not be rewritten (\(error)); tllm sweep --collect will")
            }
            return summary.interrupted ? .interrupted : .finished
        } catch {
            let message = "\(error)"
            try? FileManager.default.createDirectory(at: failuresFolder, withIntermediateDirectories: true)
            try? AtomicFile.write(message + "\n", to: failuresFolder.appendingPathComponent(c.id))
            return .failed(message)
        }
    }

    /// The state of the sweep for `--collect`.
    public struct Collection {
        public var finished: [String] = []
        public var running: [String] = []
        public var failed: [(String, String)] = []
        public var missing: [String] = []
    }

    /// Rewrites `sweep.csv` and `curves.csv` from the finished cells and tells what is not finished.
    public func collect(lease: Double = 300) throws -> Collection {
        let cells = try grid.cells()
        try writeTables(cells)
        var out = Collection()
        for c in cells {
            if finishedRow(c) != nil { out.finished.append(c.id); continue }
            if failed(c) {
                let why = (try? String(contentsOf: failuresFolder.appendingPathComponent(c.id), encoding: .utf8)) ?? ""
                out.failed.append((c.id, why.trimmingCharacters(in: .whitespacesAndNewlines)))
                continue
            }
            if case .live(let h) = CellClaim.state(cell: c.id, in: claimsFolder, lease: lease) {
                out.running.append("\(c.id) (\(h.map(\.description) ?? "being claimed"))")
            } else {
                out.missing.append(c.id)
            }
        }
        return out
    }
}
