import XCTest
import TLLMCLI
import TLLMTraining

/// The command line: every flag declared once, every value checked before a command runs.
final class ArgumentParsingTests: XCTestCase {
    func parseError<C: ParsableCommand>(_ type: C.Type, _ argv: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try C.parse(argv)
            XCTFail("\(argv) parsed", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    func testParameterCountsParseWithSuffixes() throws {
        for (text, value) in [("10M", 10_000_000), ("500K", 500_000), ("1.5B", 1_500_000_000), ("1.5G", 1_500_000_000),
                              ("2e6", 2_000_000), ("3_000_000", 3_000_000)] {
            let r = try XCTUnwrap(TrainCommand.parse(["--params", text])).request()
            XCTAssertEqual(r.parameters, value, text)
        }
        XCTAssertEqual(try XCTUnwrap(TrainCommand.parse([])).request().parameters, 10_000_000, "the default budget")
        // Explicit architecture flags replace the sizing rule unless --params is given too.
        XCTAssertNil(try XCTUnwrap(TrainCommand.parse(["--layers", "2", "--d-model", "64"])).request().parameters)
        for bad in ["10X", "-5M", "", "M", "nan", "1e30"] {
            XCTAssertTrue(parseError(TrainCommand.self, ["--params", bad]).contains("--params expects a count"), bad)
        }
    }

    func testUnknownFlagsSuggestTheClosestAndMissingValuesAreNamed() {
        XCTAssertTrue(parseError(TrainCommand.self, ["--bach", "8"]).contains("unknown option '--bach'; did you mean --batch?"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--zzz"]).contains("unknown option '--zzz' (try 'tllm train --help')"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--steps"]).contains("option --steps needs a value"))
        // A forgotten value is not filled with the next flag.
        XCTAssertTrue(parseError(TrainCommand.self, ["--out", "--steps", "3"]).contains("option --out needs a value (DIR)"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--json=1"]).contains("takes no value"))
        XCTAssertTrue(parseError(TrainCommand.self, ["stray"]).contains("unexpected argument 'stray'"))
    }

    func testNumbersAreCheckedForTypeFinitenessAndDomain() {
        XCTAssertTrue(parseError(TrainCommand.self, ["--batch", "abc"]).contains("--batch expects an integer, got 'abc'"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--batch", "0"]).contains("--batch must be positive, got 0"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--lr", "nan"]).contains("--lr expects a finite number"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--lr", "-1"]).contains("--lr must be positive"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--weight-decay", "inf"]).contains("finite"))
        for f in ["-0.5", "1.5", "0", "1"] {
            XCTAssertTrue(parseError(TrainCommand.self, ["--val-fraction", f]).contains("--val-fraction must be in (0, 1)"), f)
        }
        XCTAssertTrue(parseError(TrainCommand.self, ["--dropout", "1"]).contains("--dropout must be in [0, 1)"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--threads", "0"]).contains("--threads must be positive"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--seed", "-1"]).contains("--seed expects a non-negative integer"))
        XCTAssertTrue(parseError(TrainCommand.self, ["--norm", "batchnorm"]).contains("--norm expects one of: layernorm, rmsnorm"))
        XCTAssertTrue(parseError(GenerateCommand.self, ["--top-p", "0"]).contains("--top-p must be in (0, 1]"))
    }

    func testValuesReachTheRequestAndInlineFormsWork() throws {
        let r = try XCTUnwrap(TrainCommand.parse(["--layers=3", "--d-model", "128", "--heads", "4", "--kv-heads", "2", "--norm", "rmsnorm",
                                                  "--objective", "mlm", "--nsp", "--batch", "8", "--lr", "3e-4", "--tokens", "1M"])).request()
        XCTAssertEqual(r.layers, 3); XCTAssertEqual(r.dModel, 128); XCTAssertEqual(r.heads, 4); XCTAssertEqual(r.kvHeads, 2)
        XCTAssertEqual(r.norm, .rmsnorm)
        XCTAssertEqual(r.objective, .masked(nsp: true))
        XCTAssertEqual(r.options.batch, 8)
        XCTAssertEqual(r.options.learningRate, 3e-4)
        XCTAssertEqual(r.tokens, 1_000_000)
        // Not given: nil, so that --resume reads the run's own corpus and vocabulary.
        XCTAssertNil(r.corpus)
        XCTAssertNil(r.vocabulary)
        let g = try XCTUnwrap(GenerateCommand.parse(["--temperature", "0", "--top-k", "5"]))
        XCTAssertEqual(g.sampling.temperature, 0)
        XCTAssertEqual(g.sampling.topK, 5)
    }

    func testHelpListsEveryDeclaredOptionWithItsDefault() throws {
        XCTAssertNil(try TrainCommand.parse(["--help"]))
        let help = TrainCommand.helpText
        XCTAssertTrue(help.contains("--batch B             sequences per micro-batch (default: 16)"))
        XCTAssertTrue(help.contains("--norm N              normalization (one of: layernorm, rmsnorm; default: layernorm)"))
        XCTAssertTrue(help.contains("--threads N"))
        XCTAssertTrue(help.contains("--json"))
    }

    func testTheProgramExitsWithUsageErrors() {
        XCTAssertEqual(CLI.run(["nosuchcommand"]), 2)
        XCTAssertEqual(CLI.run(["train", "--batch", "0"]), 2)
        XCTAssertEqual(CLI.run(["help"]), 0)
    }
}
