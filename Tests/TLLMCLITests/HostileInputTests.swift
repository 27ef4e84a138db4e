import Foundation
import XCTest

/// Bad input, run against the real binary in a child process with a memory limit and a timeout —
/// so that a crash, a hang or a runaway allocation fails a test instead of killing the suite.
/// One test per family of the hostile-input report: sizes, silent answers, lost data, messages,
/// paths and concurrency.
final class HostileInputTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/release/tllm").path
    static let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-hostile-\(getpid())")
    /// A tiny trained run on a custom corpus (made once).
    static let run: URL = {
        let fm = FileManager.default
        try? fm.removeItem(at: scratch)
        try! fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        let corpus = scratch.appendingPathComponent("small.txt")
        let text = (0..<400).map { "Line \($0): the quick brown fox jumps over the lazy dog, and the dog sleeps.\n\n" }.joined()
        try! text.write(to: corpus, atomically: true, encoding: .utf8)
        let r = scratch.appendingPathComponent("run")
        let o = HostileInputTests.tllm(["train", "--layers", "1", "--d-model", "64", "--context", "32", "--batch", "2", "--steps", "4",
                                        "--eval-every", "2", "--eval-tokens", "256", "--samples", "0", "--vocab", "vocab/tllm-2k.json",
                                        "--corpus", corpus.path, "--val-fraction", "0.2", "--out", r.path, "--threads", "1"])
        precondition(o.code == 0, "could not train the fixture run: \(o.stderr)")
        return r
    }()

    struct Outcome {
        var code: Int32
        var crashed: Bool
        var timedOut: Bool
        var stdout: String
        var stderr: String
    }

    /// Runs the binary from the repository root with `ulimit -v` and a wall-clock timeout.
    static func tllm(_ args: [String], memoryMB: Int = 3000, timeout: Double = 60, env: [String: String] = [:]) -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -v \(memoryMB * 1024); exec \"$0\" \"$@\"", binary] + args
        p.currentDirectoryURL = root
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try! p.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline { p.terminate(); timedOut = true; break }
            usleep(20_000)
        }
        p.waitUntilExit()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return Outcome(code: p.terminationStatus, crashed: p.terminationReason == .uncaughtSignal, timedOut: timedOut, stdout: o, stderr: e)
    }

    /// A clean refusal: non-zero exit, no crash or hang, one line on stderr naming what it must.
    func refuses(_ args: [String], _ parts: [String], env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) {
        let o = Self.tllm(args, env: env)
        XCTAssertFalse(o.crashed, "\(args) crashed: \(o.stderr)", file: file, line: line)
        XCTAssertFalse(o.timedOut, "\(args) hung", file: file, line: line)
        XCTAssertTrue(o.code == 1 || o.code == 2, "\(args) exited \(o.code): \(o.stderr)", file: file, line: line)
        let last = o.stderr.split(separator: "\n").last.map(String.init) ?? ""
        for p in parts { XCTAssertTrue(last.contains(p), "\(args): '\(last)' should mention '\(p)'", file: file, line: line) }
    }

    func copyRun(_ name: String) throws -> URL {
        let dst = Self.scratch.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: dst)
        try FileManager.default.copyItem(at: Self.run, to: dst)
        return dst
    }

    /// Edits `path` (a JSON file) with `change`.
    func editJSON(_ url: URL, _ change: (inout [String: Any]) -> Void) throws {
        var j = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&j)
        try JSONSerialization.data(withJSONObject: j, options: [.prettyPrinted]).write(to: url)
    }

    override class func setUp() {
        precondition(FileManager.default.fileExists(atPath: binary), "build the tllm binary first (swift build -c release)")
        _ = run
    }

    // MARK: 1. Sizes and arithmetic

    func testAbsurdSizesAreRefusedBeforeAllocating() throws {
        let r = Self.run.path
        refuses(["eval", "perplexity", "--model", r, "--window", "0", "README.md"], ["--window must be positive"])
        for (field, value) in [("d_model", 1e12), ("context", 1e15), ("mlp_hidden", 1e13), ("layers", 1e9)] {
            let bad = try copyRun("size-\(field)")
            try editJSON(bad.appendingPathComponent("checkpoint/config.json")) { j in
                var m = j["model"] as! [String: Any]; m[field] = value; j["model"] = m
            }
            refuses(["generate", "--model", bad.path, "--max-tokens", "2"], ["config.json", field])
            refuses(["train", "--resume", bad.path], ["config.json", field])
        }
        refuses(["train", "--d-model", "1000000000000", "--layers", "1", "--steps", "1"], ["d_model"])
        refuses(["train", "--layers", "1000000000", "--d-model", "64", "--steps", "1"], ["layers"])
        refuses(["train", "--layers", "64", "--d-model", "16384", "--heads", "128", "--steps", "1"], ["needs about", "GB"])
        for f in ["-0.5", "1.5", "nan"] { refuses(["train", "--val-fraction", f], ["--val-fraction"]) }
        let zeroBatch = try copyRun("batch0")
        try editJSON(zeroBatch.appendingPathComponent("checkpoint/trainer.json")) { j in
            var o = j["options"] as! [String: Any]; o["batch"] = 0; j["options"] = o
        }
        refuses(["train", "--resume", zeroBatch.path, "--steps", "8"], ["trainer.json", "batch"])
        refuses(["eval", "fewshot", "--model", r, "--task", "evals/icl-recall", "--batch", "0"], ["--batch must be positive"])
    }

    // MARK: 2. Silent wrong answers

    func testInputsOutsideTheirDomainAreErrorsNotAnswers() throws {
        let r = Self.run.path
        let empty = Self.scratch.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        refuses(["eval", "perplexity", "--model", r, empty.path], ["empty.txt", "empty"])
        refuses(["eval", "perplexity", "--model", r, "--window", "-5", "README.md"], ["--window"])
        // Non-finite weights (a file without tllm's checksum) are refused, not run.
        let nan = try copyRun("nan")
        let st = nan.appendingPathComponent("checkpoint/model.safetensors")
        var bytes = try Data(contentsOf: st)
        let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var meta = header["__metadata__"] as? [String: Any] ?? [:]
        meta["tllm_checksum"] = nil
        header["__metadata__"] = meta
        var h = try JSONSerialization.data(withJSONObject: header)
        while h.count < headerLength { h.append(0x20) }
        bytes.replaceSubrange(8..<(8 + headerLength), with: h.prefix(headerLength))
        bytes.replaceSubrange((bytes.count - 4)..<bytes.count, with: withUnsafeBytes(of: Float.nan.bitPattern) { Data($0) })
        try bytes.write(to: st)
        refuses(["generate", "--model", nan.path, "--max-tokens", "3"], ["model.safetensors", "non-finite"])
        refuses(["export", "--model", nan.path, "-o", Self.scratch.appendingPathComponent("nan-hf").path], ["non-finite"])
        let eps = try copyRun("eps")
        try editJSON(eps.appendingPathComponent("checkpoint/config.json")) { j in
            var m = j["model"] as! [String: Any]; m["norm_eps"] = -1; j["model"] = m
        }
        refuses(["generate", "--model", eps.path, "--max-tokens", "2"], ["norm_eps"])
        for step in [-5.0, 1e15] {
            let s = try copyRun("step\(Int(step.sign == .minus ? 0 : 1))")
            try editJSON(s.appendingPathComponent("checkpoint/trainer.json")) { $0["step"] = step }
            refuses(["train", "--resume", s.path, "--steps", "8"], ["trainer.json", "step"])
        }
        let task = Self.scratch.appendingPathComponent("task-nosuch")
        try? FileManager.default.removeItem(at: task)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("evals/icl-recall"), to: task)
        try editJSON(task.appendingPathComponent("task.json")) { $0["fewshot_split"] = "nosuch"; $0["fewshot_field"] = nil }
        refuses(["eval", "fewshot", "--model", r, "--task", task.path, "--limit", "2"], ["task.json", "nosuch"])
        refuses(["eval", "fewshot", "--model", r, "--task", "evals/icl-recall", "--shots", ""], ["--shots"])
        refuses(["finetune", "--model", r, "--task", "evals/domain", "--lr", "nan"], ["--lr"])
        refuses(["finetune", "--model", r, "--task", "evals/domain", "--lr", "-1"], ["--lr must be positive"])
        refuses(["train", "--val-fraction", "0"], ["--val-fraction"])
        refuses(["train", "--threads", "0"], ["--threads must be positive"])
        refuses(["train", "--steps", "5", "--tokens", "1M"], ["--steps or --tokens"])
        refuses(["train", "--steps", "0"], ["--steps must be positive"])
        // A validation split shorter than one window: an error, not a loss on training tokens.
        refuses(["train", "--layers", "1", "--d-model", "64", "--context", "8192", "--steps", "2", "--vocab", "vocab/tllm-2k.json",
                 "--corpus", Self.scratch.appendingPathComponent("small.txt").path, "--out", Self.scratch.appendingPathComponent("short-val").path],
                ["validation split"])
        // A sweep row with an infinite loss is left out with a note, never fitted.
        let csv = Self.scratch.appendingPathComponent("sweep.csv")
        var rows = "non_embedding_params,tokens,val_loss\n"
        for (n, l) in [(1e5, 5.0), (3e5, 4.6), (1e6, 4.3), (3e6, 4.1), (1e7, "inf" as Any)] as [(Double, Any)] { rows += "\(n),1000000,\(l)\n" }
        try rows.write(to: csv, atomically: true, encoding: .utf8)
        let fit = Self.tllm(["fit", csv.path, "--bootstrap", "5"])
        XCTAssertEqual(fit.code, 0, fit.stderr)
        XCTAssertTrue(fit.stdout.contains("left out 1 row(s) (line 6)"), fit.stdout)
        XCTAssertTrue(fit.stdout.contains("[4 points"), fit.stdout)
    }

    // MARK: 3. Lost data

    func testNothingOfTheUsersIsOverwritten() throws {
        // A finished run resumed with nothing to do says so and changes nothing.
        let done = try copyRun("finished")
        let summary = done.appendingPathComponent("summary.json")
        let before = try Data(contentsOf: summary), metrics = try Data(contentsOf: done.appendingPathComponent("metrics.csv"))
        let o = Self.tllm(["train", "--resume", done.path])
        XCTAssertEqual(o.code, 0, o.stderr)
        XCTAssertTrue(o.stderr.contains("nothing to do"), o.stderr)
        XCTAssertEqual(try Data(contentsOf: summary), before)
        XCTAssertEqual(try Data(contentsOf: done.appendingPathComponent("metrics.csv")), metrics)
        refuses(["train", "--resume", done.path, "--out", "/tmp/elsewhere"], ["--out does not apply"])
        // A folder of the user's own files is not a run folder.
        let mine = Self.scratch.appendingPathComponent("users-folder")
        try? FileManager.default.removeItem(at: mine)
        try FileManager.default.createDirectory(at: mine, withIntermediateDirectories: true)
        for f in ["metrics.csv", "summary.json"] { try "mine\n".write(to: mine.appendingPathComponent(f), atomically: true, encoding: .utf8) }
        refuses(["train", "--layers", "1", "--d-model", "64", "--steps", "2", "--out", mine.path], ["not a tllm run"])
        XCTAssertEqual(try String(contentsOf: mine.appendingPathComponent("summary.json"), encoding: .utf8), "mine\n")
        let export = Self.scratch.appendingPathComponent("users-export")
        try? FileManager.default.removeItem(at: export)
        try FileManager.default.createDirectory(at: export, withIntermediateDirectories: true)
        try "mine\n".write(to: export.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        refuses(["export", "--model", Self.run.path, "-o", export.path], ["not empty"])
        XCTAssertEqual(try String(contentsOf: export.appendingPathComponent("config.json"), encoding: .utf8), "mine\n")
    }

    // MARK: 4. Messages a user can act on

    func testMessagesNameTheFileTheFieldAndTheProblem() throws {
        // The exact command Ctrl-C prints works for a run on a custom corpus.
        let more = try copyRun("resume-more")
        let o = Self.tllm(["train", "--resume", more.path, "--steps", "6"])
        XCTAssertEqual(o.code, 0, o.stderr)
        let frac = try copyRun("frac")
        try editJSON(frac.appendingPathComponent("checkpoint/config.json")) { j in
            var m = j["model"] as! [String: Any]; m["d_model"] = 32.5; j["model"] = m
        }
        refuses(["generate", "--model", frac.path], ["config.json:", "model.d_model must be an integer, got 32.5"])
        let file = Self.scratch.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        refuses(["export", "--model", Self.run.path, "-o", file.path], ["a-file", "is a file"])
        refuses(["train", "--weight-decay", "nan"], ["--weight-decay expects a finite number"])
        refuses(["train", "--out", "--steps", "3"], ["option --out needs a value"])
        // CSV as Python and spreadsheets write it: CRLF line ends, a quoted cell with a newline.
        let csv = Self.scratch.appendingPathComponent("crlf.csv")
        try "label,x,y\r\n\"two\nlines\",1,2\r\nb,2,4\r\nc,3,6\r\n".write(to: csv, atomically: true, encoding: .utf8)
        let plot = Self.tllm(["plot", csv.path, "--x", "x", "--y", "y", "--no-preview", "-o", Self.scratch.appendingPathComponent("p.svg").path])
        XCTAssertEqual(plot.code, 0, plot.stderr)
        let open = Self.scratch.appendingPathComponent("open.csv")
        try "x,y\n\"1,2\n".write(to: open, atomically: true, encoding: .utf8)
        refuses(["plot", open.path, "--x", "x", "--y", "y", "--no-preview"], ["open.csv:2", "unterminated quoted cell"])
        // Numeric data for dictionary learning: the line and column of a bad cell; sizes that cannot match.
        let vectors = Self.scratch.appendingPathComponent("vectors.csv")
        try "1,0.5,0.25\n2,0.5,inf\n".write(to: vectors, atomically: true, encoding: .utf8)
        refuses(["dict", "learn", "--data", vectors.path], ["vectors.csv:2", "column 3", "not a finite number"])
        refuses(["dict", "learn", "--data", vectors.path, "--atoms", "0"], ["--atoms must be positive, got 0"])
        let dict = Self.scratch.appendingPathComponent("d.safetensors")
        try? FileManager.default.removeItem(at: dict)
        XCTAssertEqual(Self.tllm(["dict", "learn", "--atoms", "8", "--iterations", "2", "-o", dict.path]).code, 0)
        refuses(["dict", "learn", "--atoms", "8", "-o", dict.path], ["d.safetensors", "already exists"])
        try "1,0.5,0.25\n".write(to: vectors, atomically: true, encoding: .utf8)
        refuses(["dict", "encode", "--dictionary", dict.path, "--data", vectors.path], ["vectors.csv", "2 features, the dictionary 64"])
        // An output folder that cannot be made fails before the evaluation, not after it.
        refuses(["eval", "fewshot", "--model", Self.run.path, "--task", "evals/bb-navigate", "--shots", "0", "--out", file.path + "/results"],
                ["a-file/results", "cannot create the output folder"])
        // Plan files for symbolic training: a missing field, a vocabulary that cannot work.
        let plan = Self.scratch.appendingPathComponent("plan.json")
        try #"{"name": "x", "tasks": [{"recall": {"pairs": 2, "queries": 2}}]}"#.write(to: plan, atomically: true, encoding: .utf8)
        refuses(["experiment", "icl", "--plan", plan.path], ["plan.json", "missing field evaluation"])
        try #"{"name": "x", "tasks": [{"recall": {"pairs": 2, "queries": 2}}], "evaluation": {"labelShots": {"shots": 2}}, "vocabulary": {"labels": 1}}"#
            .write(to: plan, atomically: true, encoding: .utf8)
        refuses(["experiment", "icl", "--plan", plan.path], ["symbolic vocabulary", "labels ≥ 2"])
        refuses(["contrastive", "--method", "simcse", "--out", Self.scratch.appendingPathComponent("simcse").path], ["--model BERT_RUN is required"])
        refuses(["contrastive", "--method", "simcse", "--model", Self.run.path, "--out", Self.scratch.appendingPathComponent("simcse").path],
                ["SimCSE trains a BERT", "gpt"])
    }

    // MARK: 5. Paths and concurrency

    func testSplitsStayInTheirFolderAndRunFoldersAreLocked() throws {
        let task = Self.scratch.appendingPathComponent("task-escape")
        try? FileManager.default.removeItem(at: task)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("evals/icl-recall"), to: task)
        try editJSON(task.appendingPathComponent("task.json")) { $0["test_split"] = "../../outside" }
        refuses(["eval", "fewshot", "--model", Self.run.path, "--task", task.path], ["task.json", "test_split", "plain name"])
        // A run held by a live process is refused, naming the holder; a dead holder's lock and
        // temporary checkpoints are cleared.
        let held = try copyRun("held")
        try "\(getpid()) \(ProcessInfo.processInfo.hostName) 2026-01-01T00:00:00Z\n".write(to: held.appendingPathComponent(".tllm.lock"), atomically: true, encoding: .utf8)
        refuses(["train", "--resume", held.path, "--steps", "6"], ["in use by process \(getpid())"])
        try "999999 \(ProcessInfo.processInfo.hostName) 2026-01-01T00:00:00Z\n".write(to: held.appendingPathComponent(".tllm.lock"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: held.appendingPathComponent("checkpoint.tmp-999999"), withIntermediateDirectories: true)
        let o = Self.tllm(["train", "--resume", held.path, "--steps", "6"])
        XCTAssertEqual(o.code, 0, o.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: held.appendingPathComponent("checkpoint.tmp-999999").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: held.appendingPathComponent(".tllm.lock").path))
        // Two trainings started at once on one folder: one trains, the other is refused cleanly.
        let both = Self.scratch.appendingPathComponent("race")
        try? FileManager.default.removeItem(at: both)
        let args = ["train", "--layers", "1", "--d-model", "64", "--context", "32", "--batch", "2", "--steps", "30", "--eval-every", "30",
                    "--eval-tokens", "256", "--samples", "0", "--vocab", "vocab/tllm-2k.json", "--corpus", Self.scratch.appendingPathComponent("small.txt").path,
                    "--val-fraction", "0.2", "--out", both.path, "--threads", "1"]
        var results: [Outcome] = []
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            let r = Self.tllm(args)
            lock.lock(); results.append(r); lock.unlock()
        }
        XCTAssertEqual(results.filter { $0.code == 0 }.count, 1, results.map(\.stderr).joined(separator: "\n"))
        let loser = results.first { $0.code != 0 }!
        XCTAssertFalse(loser.crashed)
        XCTAssertTrue(loser.stderr.contains("in use by") || loser.stderr.contains("already holds a run"), loser.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: both.appendingPathComponent("checkpoint/model.safetensors").path))
    }
}
