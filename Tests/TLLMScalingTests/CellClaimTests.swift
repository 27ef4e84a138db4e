import Foundation
import XCTest
import TLLMScaling

/// Claims on a shared folder: one winner, live leases respected, released and dead holders'
/// claims taken over, generations never reused.
final class CellClaimTests: XCTestCase {
    func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tllm-claims-\(UUID().uuidString)")
    }

    func testLiveLeaseBlocksAndReleaseHandsOver() throws {
        let dir = folder()
        let a = try CellClaim.acquire(cell: "c1", in: dir, lease: 60)
        let claimA = try XCTUnwrap(a.claim)
        XCTAssertEqual(claimA.generation, 1)
        XCTAssertNil(a.tookOver)
        let b = try CellClaim.acquire(cell: "c1", in: dir, lease: 60)
        XCTAssertNil(b.claim, "a live lease is respected")
        XCTAssertEqual(b.holder?.pid, getpid())
        claimA.release()
        let c = try CellClaim.acquire(cell: "c1", in: dir, lease: 60)
        let claimC = try XCTUnwrap(c.claim, "a released claim is taken over")
        XCTAssertEqual(claimC.generation, 2, "generations only grow: a stalled owner of 1 sees 2")
        XCTAssertNotNil(c.tookOver)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("c1.1").path), "claim files are kept")
        claimC.release()
    }

    func testADeadProcessOnThisHostIsTakenOverAtOnce() throws {
        let dir = folder()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // A process that has exited: its PID no longer exists.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run(); p.waitUntilExit()
        let expires = Date().timeIntervalSince1970 + 3600
        try "\(ProcessInfo.processInfo.hostName) \(p.processIdentifier) \(expires)\n".write(to: dir.appendingPathComponent("c2.1"), atomically: true, encoding: .utf8)
        let live = try "other-host 1 \(expires)\n".write(to: dir.appendingPathComponent("c3.1"), atomically: true, encoding: .utf8)
        _ = live
        let dead = try CellClaim.acquire(cell: "c2", in: dir, lease: 60)
        XCTAssertEqual(dead.claim?.generation, 2, "the holder's process is gone: its unexpired lease does not matter")
        XCTAssertEqual(dead.tookOver?.pid, p.processIdentifier)
        let other = try CellClaim.acquire(cell: "c3", in: dir, lease: 60)
        XCTAssertNil(other.claim, "another host's live lease cannot be checked, so it is respected")
        dead.claim?.release()
    }

    /// Another host's clock may differ from ours: its claim is judged by whether its file keeps
    /// changing (renewals), not by comparing its deadline with our clock — unless the deadline is
    /// past by more than the skew allowance.
    func testAnotherHostsLeaseIsJudgedByRenewalsNotByClocks() throws {
        let dir = folder()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let lease = 0.4, now = Date().timeIntervalSince1970
        func hold(_ cell: String, deadline: Double) throws {
            try "other-host 7 \(deadline)\n".write(to: dir.appendingPathComponent("\(cell).1"), atomically: true, encoding: .utf8)
        }
        // Our clock runs 100 s ahead of the holder's: its fresh deadline already looks past, but it
        // renews, so it stays live for as long as it keeps doing so.
        try hold("skewed", deadline: now - 100)
        for i in 1...4 {
            XCTAssertNil(try CellClaim.acquire(cell: "skewed", in: dir, lease: lease).claim, "renewal \(i): a renewed claim is live")
            Thread.sleep(forTimeInterval: lease / 2)
            try hold("skewed", deadline: now - 100 + Double(i))
        }
        // The holder stops renewing: after a lease unchanged, the claim is taken over.
        XCTAssertNil(try CellClaim.acquire(cell: "skewed", in: dir, lease: lease).claim)
        Thread.sleep(forTimeInterval: lease * 1.2)
        let taken = try CellClaim.acquire(cell: "skewed", in: dir, lease: lease)
        XCTAssertEqual(taken.claim?.generation, 2, "unchanged for a lease: expired")
        XCTAssertEqual(taken.tookOver?.host, "other-host")
        taken.claim?.release()
        // A deadline far in the future (the holder's clock runs ahead) does not keep a dead claim alive.
        try hold("ahead", deadline: now + 3600)
        XCTAssertNil(try CellClaim.acquire(cell: "ahead", in: dir, lease: lease).claim)
        Thread.sleep(forTimeInterval: lease * 1.2)
        XCTAssertNotNil(try CellClaim.acquire(cell: "ahead", in: dir, lease: lease).claim, "not renewed for a lease: expired")
        // A deadline past by more than the allowance is taken over at first sight.
        try hold("abandoned", deadline: now - CellClaim.clockSkewAllowance(lease: lease) - 60)
        XCTAssertNotNil(try CellClaim.acquire(cell: "abandoned", in: dir, lease: lease).claim)
    }

    func testExactlyOneOfManyRacingAcquirersWins() throws {
        let dir = folder()
        let winners = Synchronized(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let c = try? CellClaim.acquire(cell: "c4", in: dir, lease: 60).claim { winners.add(1); _ = c }
        }
        XCTAssertEqual(winners.value, 1)
    }
}

final class Synchronized: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Int
    init(_ v: Int) { self.v = v }
    func add(_ d: Int) { lock.lock(); v += d; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return v }
}
