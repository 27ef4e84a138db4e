import Foundation
import TLLMCore

/// A worker's claim on one sweep cell, safe on a folder shared between machines (NFS, Lustre,
/// a bind mount): no process-local lock, only atomic file creation and rename.
///
/// Claims are generation-numbered files `DIR/claims/<cell>.<g>`. A worker owns the cell while the
/// highest generation is its file and the lease in it has not expired:
///
///     claims/N100K-D1M-s1.1   "host pid lease-expiry(unix s)"   ← renewed every lease/3 by its owner
///
/// To take a cell a worker creates generation g + 1 with `O_CREAT | O_EXCL` (exactly one of any
/// number of racing workers succeeds), either because no claim exists (g = 0) or because the
/// lease of generation g expired. Renewal rewrites only the owner's own generation (temporary file +
/// rename). An owner that finds a higher generation has lost the cell and stops.
///
/// Whether another host's lease has lapsed is judged without trusting that the two hosts' clocks
/// agree: a claim is expired once this process has seen its file unchanged for a whole lease (on
/// its own monotonic clock; a live owner rewrites it every lease/3), or when the deadline in it
/// is past by more than ``clockSkewAllowance(lease:)`` on this host's clock (a claim abandoned long
/// ago, taken over at once).
public final class CellClaim: @unchecked Sendable {
    public let cell: String
    public let generation: Int
    let folder: URL
    let lease: Double
    private let lock = NSLock()
    private var timer: DispatchSourceTimer?
    private var lostFlag = false
    private var released = false
    /// When the lease was last written (monotonic), to notice renewals that keep failing.
    private var lastRenewal = Clock.now()
    private let onLost: (@Sendable () -> Void)?

    /// Who holds a claim, as written in its file.
    public struct Holder: Equatable, CustomStringConvertible {
        public var host: String
        public var pid: Int32
        public var expires: Double
        public var description: String { "process \(pid) on \(host)" }
    }

    init(cell: String, generation: Int, folder: URL, lease: Double, onLost: (@Sendable () -> Void)?) {
        self.cell = cell; self.generation = generation; self.folder = folder; self.lease = lease; self.onLost = onLost
    }

    static func file(_ folder: URL, _ cell: String, _ g: Int) -> URL { folder.appendingPathComponent("\(cell).\(g)") }

    /// The highest generation of `cell`'s claims (0: never claimed). Generations have no gaps (each
    /// is created only after the one before it exists), so this probes 1, 2, … instead of listing a
    /// folder that holds every cell's claims.
    static func latest(_ folder: URL, cell: String) -> Int {
        var g = 0
        while FileManager.default.fileExists(atPath: file(folder, cell, g + 1).path) { g += 1 }
        return g
    }

    static func read(_ url: URL) -> Holder? {
        (try? String(contentsOf: url, encoding: .utf8)).flatMap(parse)
    }

    /// A claim file's text as its holder (nil: empty or not a claim).
    static func parse(_ text: String) -> Holder? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        guard f.count >= 3, let pid = Int32(f[1]), let exp = Double(f[2]) else { return nil }
        return Holder(host: f[0], pid: pid, expires: exp)
    }

    static func content(lease: Double) -> String {
        "\(ProcessInfo.processInfo.hostName) \(getpid()) \(String(format: "%.3f", Date().timeIntervalSince1970 + lease))\n"
    }

    /// Where a cell's latest claim stands.
    public enum State: Equatable {
        case unclaimed
        /// A holder whose lease runs (nil: a claim file being written).
        case live(Holder?)
        case expired(Holder)
    }

    /// How far past its deadline (on this host's clock) a claim must be to count as expired without
    /// watching it: the clock difference between hosts that this tolerates (10 minutes, or a lease).
    public static func clockSkewAllowance(lease: Double) -> Double { max(lease, 600) }

    /// The state of `cell`'s claim generation `g` (the latest unless given):
    /// - released (its deadline rewritten as 0), or held by a process of this host that no longer
    ///   exists (a requeued job on the same node): expired at once;
    /// - its file seen unchanged by this process for a whole lease: expired (the owner stopped
    ///   renewing; no clock of another host involved);
    /// - its deadline past by more than ``clockSkewAllowance(lease:)``: expired;
    /// - otherwise live. A claim file being created is empty for an instant; an empty file counts
    ///   as live until it too has been seen unchanged for a lease.
    public static func state(cell: String, in folder: URL, generation g: Int? = nil, lease: Double) -> State {
        let g = g ?? latest(folder, cell: cell)
        guard g > 0 else { return .unclaimed }
        let url = file(folder, cell, g)
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let stale = observations.unchangedFor(url.path, content: text) >= lease
        guard let h = parse(text) else {
            return stale ? .expired(Holder(host: "?", pid: 0, expires: 0)) : .live(nil)
        }
        let deadHere = h.host == ProcessInfo.processInfo.hostName && h.pid > 0 && kill(h.pid, 0) != 0 && errno == ESRCH
        let longPast = Date().timeIntervalSince1970 > h.expires + clockSkewAllowance(lease: lease)
        return h.expires == 0 || deadHere || stale || longPast ? .expired(h) : .live(h)
    }

    /// What this process has seen of claim files: each file's last content, and since when (on the
    /// monotonic clock) it has been that.
    static let observations = Observations()

    final class Observations: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: [String: (content: String, since: Double)] = [:]

        /// Seconds for which `path` has had `content` as far as this process has watched it (0 on
        /// the first sight of that content).
        func unchangedFor(_ path: String, content: String) -> Double {
            lock.lock(); defer { lock.unlock() }
            let now = Clock.now()
            if let s = seen[path], s.content == content { return now - s.since }
            seen[path] = (content, now)
            return 0
        }
    }

    /// Claims `cell` in `folder` for `lease` seconds (renewed in the background until `release`),
    /// or returns nil with the current holder when a live claim exists. An expired claim is taken
    /// over (`tookOver` tells whom from; see ``state(cell:in:generation:lease:)``).
    /// Claim files are never deleted: a finished or failed cell's claim is rewritten as expired, so
    /// that a stalled former owner still finds the higher generation and knows it lost the cell.
    /// `onLost` runs on a background queue if the cell is lost.
    public static func acquire(cell: String, in folder: URL, lease: Double,
                               onLost: (@Sendable () -> Void)? = nil) throws -> (claim: CellClaim?, holder: Holder?, tookOver: Holder?) {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let g = latest(folder, cell: cell)
        var previous: Holder?
        switch state(cell: cell, in: folder, generation: g, lease: lease) {
        case .unclaimed: break
        case .live(let h): return (nil, h, nil)
        case .expired(let h): previous = h
        }
        let url = file(folder, cell, g + 1)
        let fd = open(url.path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
        if fd < 0 {
            if errno == EEXIST { return (nil, read(url), nil) }                 // another worker won the race
            throw TLLMError("cannot create a claim (\(String(cString: strerror(errno))))", file: url.path)
        }
        let text = content(lease: lease)
        let ok = text.withCString { write(fd, $0, strlen($0)) } == text.utf8.count
        close(fd)
        guard ok else { throw TLLMError("cannot write the claim", file: url.path) }
        let c = CellClaim(cell: cell, generation: g + 1, folder: folder, lease: lease, onLost: onLost)
        c.startRenewing()
        return (c, nil, previous)
    }

    /// Whether a higher generation appeared (the lease lapsed and another worker took the cell).
    public var lost: Bool {
        lock.lock(); defer { lock.unlock() }
        return lostFlag
    }

    func startRenewing() {
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        t.schedule(deadline: .now() + lease / 3, repeating: lease / 3)
        t.setEventHandler { [weak self] in self?.renew() }
        timer = t
        t.resume()
    }

    /// Extends the lease, unless the cell was lost (a higher generation exists, or renewals have
    /// failed for longer than a lease).
    func renew() {
        lock.lock()
        defer { lock.unlock() }
        guard !released, !lostFlag else { return }
        var lost = CellClaim.latest(folder, cell: cell) > generation
        if !lost {
            do {
                try AtomicFile.write(CellClaim.content(lease: lease), to: CellClaim.file(folder, cell, generation))
                lastRenewal = Clock.now()
            } catch {
                lost = Clock.now() - lastRenewal > 0.9 * lease
            }
            if CellClaim.latest(folder, cell: cell) > generation { lost = true }
        }
        guard lost else { return }
        lostFlag = true
        timer?.cancel()
        onLost?()
    }

    /// Stops renewing and marks the claim expired (the cell is finished, failed or interrupted);
    /// the file stays, so the generation count only grows.
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        guard !released else { return }
        released = true
        timer?.cancel(); timer = nil
        guard !lostFlag, CellClaim.latest(folder, cell: cell) == generation else { return }
        try? AtomicFile.write("\(ProcessInfo.processInfo.hostName) \(getpid()) 0\n", to: CellClaim.file(folder, cell, generation))
    }

    deinit { timer?.cancel() }
}
