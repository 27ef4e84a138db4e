import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `tllm analyze heads` on the tiny fixture run.
final class AnalyzeHeadsTests: XCTestCase {
    typealias H = HostileInputTests

    func testReportsEveryHeadAndDrawsAPattern() throws {
        let run = H.run
        let o = H.tllm(["analyze", "heads", "--model", run.path, "--period", "10", "--sequences", "4", "--json"])
        XCTAssertEqual(o.code, 0, o.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any])
        let heads = try XCTUnwrap(json["heads"] as? [[String: Any]])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as! [String: Any]
        let model = config["model"] as! [String: Any]
        XCTAssertEqual(heads.count, (model["layers"] as! Int) * (model["heads"] as! Int))
        for h in heads {
            let p = h["prefixMatching"] as! Double
            XCTAssertTrue((0...1).contains(p))
        }
        let first = json["first_run_loss"] as! Double, repeated = json["repeat_loss"] as! Double
        XCTAssertEqual(json["icl_score"] as! Double, repeated - first, accuracy: 1e-9)
        let svg = H.scratch.appendingPathComponent("pattern-\(UUID().uuidString).svg")
        let s = H.tllm(["analyze", "heads", "--model", run.path, "--period", "10", "--svg", svg.path, "--layer", "0", "--head", "0"])
        XCTAssertEqual(s.code, 0, s.stderr)
        let text = try String(contentsOf: svg, encoding: .utf8)
        XCTAssertEqual(text.components(separatedBy: "<rect x=").count - 1, 20 * 20, "one cell per query × key position")
        XCTAssertTrue(XMLParser(data: Data(text.utf8)).parse(), "the SVG parses as XML")
        // Refusals: an existing file, a head that does not exist, a period longer than the context.
        let again = H.tllm(["analyze", "heads", "--model", run.path, "--svg", svg.path])
        XCTAssertNotEqual(again.code, 0); XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        let layer = H.tllm(["analyze", "heads", "--model", run.path, "--svg", svg.path + "2", "--layer", "7"])
        XCTAssertNotEqual(layer.code, 0); XCTAssertTrue(layer.stderr.contains("--layer 7"), layer.stderr)
        let period = H.tllm(["analyze", "heads", "--model", run.path, "--period", "1000"])
        XCTAssertNotEqual(period.code, 0); XCTAssertTrue(period.stderr.contains("longer than the context"), period.stderr)
    }
}
