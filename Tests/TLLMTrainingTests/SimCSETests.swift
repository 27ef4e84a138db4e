import Foundation
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer
import TLLMTraining
import XCTest

/// SimCSE on a tiny BERT: the corpus sentences, the encoder loading, and that training pulls a
/// sentence's two dropout views together against the batch.
final class SimCSETests: XCTestCase {
    static let tokenizer: Tokenizer = try! VocabularyFiles.load("vocab/tllm-2k.json")

    func temporaryRun(_ config: ModelConfig) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("simcse-\(UUID().uuidString)")
        let model: Module = config.architecture == .bert ? try BERTModel(config: config, seed: 4) : try GPTModel(configuration: config, seed: 4)
        try ModelStore.save(model.namedParameters, config: config, to: dir)
        try VocabularyFiles.writeJSON(Self.tokenizer, to: dir.appendingPathComponent("tokenizer.json"))
        return dir
    }

    func testSentencesAreSegmentsWithWhitespaceCollapsedAndShortOnesDropped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("simcse-corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("text.txt")
        try "First   paragraph,\nwrapped over lines.\n\nShort.\n\nA third paragraph that is long enough.\n".write(to: file, atomically: true, encoding: .utf8)
        let s = SimCSETrainer.sentences(try Corpus.load(path: file.path), minCharacters: 20, maxCharacters: 30)
        XCTAssertEqual(s, ["First paragraph, wrapped over", "A third paragraph that is long"])
    }

    func testTrainingPullsDropoutViewsTogetherAndOnlyBERTIsAccepted() throws {
        let c = ModelConfig(architecture: .bert, vocabSize: Self.tokenizer.vocabularySize, context: 32, layers: 2, dModel: 32, heads: 2, segments: 2)
        let run = try temporaryRun(c)
        defer { try? FileManager.default.removeItem(at: run) }
        let sentences = (0..<64).map { "sentence number \($0) says \(["thee", "thou", "lord", "king"][$0 % 4]) \($0 * 7 % 13)" }
        var s = SimCSETrainer.Settings()
        s.steps = 60; s.batch = 16; s.learningRate = 2e-3; s.temperature = 0.1; s.dropout = 0.1
        let encoder = try SimCSETrainer.loadEncoder(run, dropout: s.dropout)
        XCTAssertEqual(encoder.0.config.dropout, 0.1)
        let losses = SimCSETrainer(settings: s).fit(encoder, sentences: sentences)
        XCTAssertEqual(losses.count, 60)
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(last, 0.5 * first, "InfoNCE over 16 rows should fall well below its start (\(first) → \(last))")
        // Same seed, same losses (dropout masks and batches come from the seed).
        let again = SimCSETrainer(settings: s).fit(try SimCSETrainer.loadEncoder(run, dropout: s.dropout), sentences: sentences)
        XCTAssertEqual(again, losses)

        var g = ModelConfig(vocabSize: Self.tokenizer.vocabularySize, context: 32, layers: 1, dModel: 16, heads: 2)
        g.architecture = .gpt
        let gptRun = try temporaryRun(g)
        defer { try? FileManager.default.removeItem(at: gptRun) }
        XCTAssertThrowsError(try SimCSETrainer.loadEncoder(gptRun, dropout: 0.1)) { XCTAssertTrue("\($0)".contains("BERT"), "\($0)") }
        s.batch = 1
        XCTAssertThrowsError(try s.validate())
    }
}
