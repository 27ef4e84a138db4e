import Foundation
import FoundationXML
import XCTest
import TLLMPlot

final class PlotTests: XCTestCase {
    func testSVGIsValidXMLAndPointsLandWhereExpected() throws {
        var chart = Chart(title: "loss <vs> params & tokens", xLabel: "params", yLabel: "loss", logX: true, logY: true)
        chart.series = [Chart.Series(name: "D = 1M", points: [(1e5, 4), (1e6, 3), (1e7, 2.5)]),
                        Chart.Series(name: "fit", points: [(1e5, 4.1), (1e7, 2.4)], markers: false, line: true, dashed: true)]
        let svg = chart.svg()
        let doc = try XMLDocument(data: Data(svg.utf8))
        let circles = try doc.nodes(forXPath: "//*[local-name()='circle' and @class='point']")
        XCTAssertEqual(circles.count, 3)
        // The range is padded by 4% (x) and 6% (y) of the log span; the plot area is 80…520 × 40…420.
        let lx0 = 5.0 - 0.08, lx1 = 7.0 + 0.08
        let lyLo = log10(2.4), lyHi = log10(4.1), py = (lyHi - lyLo) * 0.06
        let y0 = lyLo - py, y1 = lyHi + py
        let expectedX = 80 + (6 - lx0) / (lx1 - lx0) * (520 - 80)
        let expectedY = 420 - (log10(3) - y0) / (y1 - y0) * (420 - 40)
        let mid = circles[1] as! XMLElement
        // (FoundationXML on Linux does not find attributes by name in a namespaced document.)
        func attr(_ e: XMLElement, _ n: String) -> Double? { (e.attributes ?? []).first { $0.name == n }?.stringValue.flatMap(Double.init) }
        XCTAssertEqual(try XCTUnwrap(attr(mid, "cx")), expectedX, accuracy: 0.02)
        XCTAssertEqual(try XCTUnwrap(attr(mid, "cy")), expectedY, accuracy: 0.02)
        // Decade ticks are labelled 10⁵ … 10⁷; the title was escaped.
        XCTAssertTrue(svg.contains(">10⁵<") && svg.contains(">10⁶<") && svg.contains(">10⁷<"))
        XCTAssertTrue(svg.contains("loss &lt;vs&gt; params &amp; tokens"))
        let preview = chart.terminalPreview()
        XCTAssertTrue(preview.contains("A") && preview.contains("D = 1M"))
    }

    func testCSVErrorsNameTheLine() throws {
        let t = try CSVTable.parse("a,b\n1,2\n3,x\n", path: "m.csv")
        XCTAssertEqual(try t.numbers("a"), [1, 3])
        XCTAssertThrowsError(try t.numbers("b")) { XCTAssertEqual("\($0)", "m.csv:3: column 'b': 'x' is not a number") }
        XCTAssertThrowsError(try t.numbers("c")) { XCTAssertTrue("\($0)".contains("no column 'c'")) }
        XCTAssertThrowsError(try CSVTable.parse("a,b\n1,2,3\n", path: "n.csv")) { XCTAssertTrue("\($0)".hasPrefix("n.csv:2:")) }
        XCTAssertThrowsError(try CSVTable.parse("", path: "e.csv"))
        let q = try CSVTable.parse("name,v\n\"x, y\",1\n", path: "q.csv")
        XCTAssertEqual(try q.strings("name"), ["x, y"])
    }
}
