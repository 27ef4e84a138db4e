import XCTest
import TLLMCore
import TLLMData

final class CorpusTests: XCTestCase {
    func testCorpusStructure() throws {
        let plays = try Corpus.load(nil)
        XCTAssertEqual(plays.documents.count, 38)
        XCTAssertEqual(plays.documents[0].name, "A Midsummer Night's Dream")
        XCTAssertEqual(plays.documents[0].label, "comedies")
        XCTAssertGreaterThan(plays.documents[0].segments.count, 100)
        XCTAssertEqual(plays.validationIndices(fraction: 0.1), [9, 19, 29])
        let kjv = try Corpus.load("kjv")
        XCTAssertEqual(kjv.documents.count, 66)
        XCTAssertEqual(kjv.documents[0].name, "Genesis")
        XCTAssertEqual(kjv.documents.last!.name, "Revelation")
        XCTAssertEqual(kjv.documents.map(\.segments.count).reduce(0, +), 31_102)
        let first = kjv.documents[0]
        XCTAssertTrue(String(decoding: first.text[first.segments[0]], as: UTF8.self).hasPrefix("Genesis 1:1 In the beginning"))
    }

    func testBatcherIsDeterministic() throws {
        let b = try CLMBatcher(tokens: Array(0..<1000).map(Int32.init), batch: 3, length: 8)
        var r1 = RandomGenerator(seed: 1), r2 = RandomGenerator(seed: 1)
        let x = b.next(&r1), y = b.next(&r2)
        XCTAssertEqual(x.inputs, y.inputs)
        XCTAssertEqual(x.targets, x.inputs.map { $0 + 1 })
        let ev = CLMBatcher.evaluationBatches(Array(0..<100).map(Int32.init), batch: 2, length: 10, maxTokens: 40)
        XCTAssertEqual(ev.map { $0.inputs.count }, [20, 20])
    }
}
