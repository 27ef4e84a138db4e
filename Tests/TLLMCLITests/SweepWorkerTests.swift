import Foundation
import XCTest

/// Scale-out: workers sharing one sweep folder run every cell exactly once, a killed worker's
/// cell is taken over after its lease and resumed, and the results equal a serial sweep's bit
/// for bit. The real binary in child processes.
final class SweepWorkerTests: XCTestCase {
    typealias H = HostileInputTests
    static let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-sweep-\(getpid())")
    /// The grid (6 cells, a few seconds in all) and a serial sweep of it, made once.
    static let setup: (grid: URL, serial: URL) = {
        let fm = FileManager.default
        try? fm.removeItem(at: scratch)
        try! fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        let corpus = scratch.appendingPathComponent("corpus.txt")
        let text = (0..<600).map { "Verse \($0): and the \($0 % 7 == 0 ? "king" : "people") went up to the city, and the city was glad.\n\n" }.joined()
        try! text.write(to: corpus, atomically: true, encoding: .utf8)
        let grid = scratch.appendingPathComponent("grid.json")
        let json = """
        {"parameters": [50000, 100000, 150000], "tokens": [16384, 40960], "context": 32, "batch": 4, "eval_tokens": 1024,
         "vocabulary": "vocab/tllm-2k.json", "corpus": "\(corpus.path)"}
        """
        try! json.write(to: grid, atomically: true, encoding: .utf8)
        let serial = scratch.appendingPathComponent("serial")
        let o = H.tllm(["sweep", "--grid", grid.path, "--out", serial.path, "--threads", "1"], timeout: 240)
        precondition(o.code == 0, "serial sweep failed: \(o.stderr)")
        return (grid, serial)
    }()

    /// The columns of sweep.csv that must be identical (not times).
    func results(_ dir: URL) throws -> [String] {
        let lines = try String(contentsOf: dir.appendingPathComponent("sweep.csv"), encoding: .utf8).split(separator: "\n")
        return lines.map { l in
            let f = l.split(separator: ",", omittingEmptySubsequences: false)
            return (f[0..<14]).joined(separator: ",")                 // run_id … val_bpb
        }
    }

    func start(_ args: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: H.binary)
        p.arguments = args
        p.currentDirectoryURL = H.root
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return (p, err)
    }

    func plan(_ name: String) throws -> URL {
        let out = Self.scratch.appendingPathComponent(name)
        let o = H.tllm(["sweep", "--grid", Self.setup.grid.path, "--plan", "--out", out.path])
        XCTAssertEqual(o.code, 0, o.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("sweep.json").path))
        return out
    }

    func testThreeWorkersRunEveryCellOnceAndMatchTheSerialSweep() throws {
        let expected = try results(Self.setup.serial)
        XCTAssertEqual(expected.count, 7)
        let out = try plan("workers")
        let workers = try (0..<3).map { _ in try start(["sweep", "--worker", "--out", out.path, "--threads", "1", "--lease", "30"]) }
        var logs: [String] = []
        for (p, err) in workers {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            logs.append(String(decoding: data, as: UTF8.self))
        }
        let finished = logs.joined().split(separator: "\n").filter { $0.hasSuffix(": finished") && $0.contains("sweep worker: N") }
        XCTAssertEqual(finished.count, 6, "every cell finished by exactly one worker:\n\(logs.joined())")
        XCTAssertEqual(Set(finished).count, 6)
        let c = H.tllm(["sweep", "--collect", "--out", out.path])
        XCTAssertEqual(c.code, 0, c.stderr)
        XCTAssertTrue(c.stdout.hasPrefix("6 finished, 0 running, 0 failed, 0 not started"), c.stdout)
        XCTAssertEqual(try results(out), expected)
    }

    func testAKilledWorkersCellIsTakenOverAfterItsLeaseAndResumed() throws {
        let expected = try results(Self.setup.serial)
        let out = try plan("killed")
        let (a, _) = try start(["sweep", "--worker", "--out", out.path, "--threads", "1", "--lease", "2"])
        // Kill A as soon as some cell has a checkpoint but no summary (mid-cell).
        let cells = out.appendingPathComponent("cells")
        let deadline = Date().addingTimeInterval(120)
        var victim: String?
        while victim == nil && Date() < deadline && a.isRunning {
            for id in (try? FileManager.default.contentsOfDirectory(atPath: cells.path)) ?? [] {
                let d = cells.appendingPathComponent(id)
                if FileManager.default.fileExists(atPath: d.appendingPathComponent("checkpoint").path),
                   !FileManager.default.fileExists(atPath: d.appendingPathComponent("summary.json").path) { victim = id; break }
            }
            usleep(2000)
        }
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        let cell = try XCTUnwrap(victim, "no cell was caught mid-run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cells.appendingPathComponent("\(cell)/summary.json").path))
        let b = H.tllm(["sweep", "--worker", "--out", out.path, "--threads", "1", "--lease", "2"], timeout: 240)
        XCTAssertEqual(b.code, 0, b.stderr)
        XCTAssertTrue(b.stderr.contains("\(cell): the lease of process \(a.processIdentifier)"), b.stderr)
        XCTAssertTrue(b.stderr.contains("\(cell): resuming from its checkpoint"), b.stderr)
        XCTAssertEqual(try results(out), expected, "a resumed cell ends bit-identical to an uninterrupted one")
    }

    func testCellAndPlanErrorsAreOneLine() throws {
        let out = try plan("errors")
        let bad = H.tllm(["sweep", "--cell", "6", "--out", out.path])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertTrue(bad.stderr.contains("cell 6 is out of range: the sweep has cells 0…5"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        let none = H.tllm(["sweep", "--cell", "0", "--out", Self.scratch.appendingPathComponent("nothing").path])
        XCTAssertNotEqual(none.code, 0)
        XCTAssertTrue(none.stderr.contains("no sweep.json"), none.stderr)
        let both = H.tllm(["sweep", "--worker", "--collect", "--out", out.path])
        XCTAssertNotEqual(both.code, 0)
        XCTAssertTrue(both.stderr.contains("one of --plan, --cell, --worker and --collect"), both.stderr)
    }
}
