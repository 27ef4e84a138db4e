import Foundation
import TLLMCore

/// A run folder while a process writes it: an exclusive lock file (`.tllm.lock`: process, host,
/// start time), taken over only when its process is gone; stale temporary checkpoints of dead
/// processes are cleared when the lock is taken.
public final class RunLock {
    public let url: URL
    private var held = true

    /// Locks `run` (creating the folder), or explains who holds it.
    public static func acquire(_ run: URL) throws -> RunLock {
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let url = run.appendingPathComponent(".tllm.lock")
        for _ in 0..<2 {
            let fd = open(url.path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
            if fd >= 0 {
                let text = "\(getpid()) \(RunLock.host) \(ISO8601DateFormatter().string(from: Date()))\n"
                _ = text.withCString { write(fd, $0, strlen($0)) }
                close(fd)
                RunFolder.removeStaleTemporaries(run)
                return RunLock(url: url)
            }
            guard errno == EEXIST else { throw TLLMError("cannot create the lock file (\(String(cString: strerror(errno))))", file: url.path) }
            let holder = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: " ").map(String.init) ?? []
            if holder.count >= 2, holder[1] == host, let pid = Int32(holder[0]), !alive(pid) {
                try? FileManager.default.removeItem(at: url)   // its process is gone: take over
                continue
            }
            let who = holder.count >= 3 ? "process \(holder[0]) on \(holder[1]) since \(holder[2].trimmingCharacters(in: .whitespacesAndNewlines))" : "another process"
            throw TLLMError("is in use by \(who); wait for it to finish (if that process is gone, delete \(url.lastPathComponent))", file: run.path)
        }
        throw TLLMError("cannot take the lock", file: url.path)
    }

    init(url: URL) { self.url = url }

    /// Removes `run`'s lock if `pid` on `host` holds it — for a scheduler that knows the holder
    /// is gone (a sweep cell whose lease lapsed), where the PID check of `acquire` cannot see it.
    public static func breakLock(_ run: URL, heldBy host: String, pid: Int32) {
        let url = run.appendingPathComponent(".tllm.lock")
        let holder = (try? String(contentsOf: url, encoding: .utf8))?.split(separator: " ").map(String.init) ?? []
        if holder.count >= 2, holder[0] == "\(pid)", holder[1] == host { try? FileManager.default.removeItem(at: url) }
    }

    public func release() {
        guard held else { return }
        held = false
        try? FileManager.default.removeItem(at: url)
    }

    deinit { release() }

    static let host = ProcessInfo.processInfo.hostName

    /// Whether process `pid` exists on this host.
    static func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }
}

/// What may happen to a folder tllm is asked to write into.
public enum RunFolder {
    /// A new run may go into `run` if the folder does not exist, is empty, or is a tllm run that
    /// never saved a checkpoint (started and stopped at once); a run with a checkpoint is
    /// continued with `--resume`, and anything else is the user's and is left alone.
    public static func checkNewRun(_ run: URL) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: run.path) else { return }
        if fm.fileExists(atPath: Checkpoint.directory(run).path) || fm.fileExists(atPath: run.appendingPathComponent("checkpoint.old").path) {
            throw TLLMError("already holds a run; continue it with --resume \(run.path), or choose another --out", file: run.path)
        }
        let entries = (try? fm.contentsOfDirectory(atPath: run.path)) ?? []
        if entries.filter({ !$0.hasPrefix(".tllm.lock") && !$0.hasPrefix("checkpoint.tmp-") }).isEmpty { return }
        guard isRun(run) else {
            throw TLLMError("holds files that are not a tllm run (\(entries.sorted().prefix(3).joined(separator: ", "))\(entries.count > 3 ? ", …" : "")); tllm writes only into new or empty folders — choose another --out",
                            file: run.path)
        }
    }

    /// Whether `dir` holds a run's `config.json` (with both `model` and `training`).
    public static func isRun(_ dir: URL) -> Bool {
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("config.json").path),
              let json = try? JSONParser.parse([UInt8](data), path: "") else { return false }
        return json["model"] != nil && json["training"] != nil
    }

    /// An output folder for files tllm makes (exports, task imports): new or empty only.
    public static func checkEmptyOrNew(_ dir: URL) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw TLLMError("is a file, not a folder; choose another output", file: dir.path) }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        guard entries.isEmpty else { throw TLLMError("is not empty; tllm writes only into new or empty folders — choose another output", file: dir.path) }
    }

    /// Removes `checkpoint.tmp-PID` folders left by interrupted saves (the caller holds the lock,
    /// so no live process is writing one).
    public static func removeStaleTemporaries(_ run: URL) {
        let fm = FileManager.default
        for e in (try? fm.contentsOfDirectory(atPath: run.path)) ?? [] where e.hasPrefix("checkpoint.tmp-") {
            try? fm.removeItem(at: run.appendingPathComponent(e))
        }
    }
}
