import Foundation
import XCTest
import TLLMCore
import TLLMData
import TLLMEvaluation
import TLLMModels
import TLLMTokenizer

final class EvaluationTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    static let bytes = try! Tokenizer(tokens: (0..<256).map { [UInt8($0)] }, specialTokens: ["<|endoftext|>": 256], pattern: .gpt2)

    func tmpTask(_ name: String, spec: String, test: String, train: String? = nil) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-task-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try! spec.write(to: dir.appendingPathComponent("task.json"), atomically: true, encoding: .utf8)
        try! test.write(to: dir.appendingPathComponent("test.jsonl"), atomically: true, encoding: .utf8)
        if let train { try! train.write(to: dir.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8) }
        return dir
    }

    /// A model with no blocks: logits = LN(wte[x] + wpe[t])·wteᵀ, computed here by hand in double.
    func testLogLikelihoodMatchesAHandComputation() throws {
        let c = ModelConfig(vocabSize: 257, context: 16, layers: 0, dModel: 8, heads: 1)
        let m = try GPTModel(config: c, seed: 3)
        let scorer = Scorer(model: m, tokenizer: Self.bytes)
        let ctx: [Int32] = [72, 105], cont: [Int32] = [33, 10]
        let got = scorer.logLikelihoods([Scorer.Request(context: ctx, continuation: cont)])[0].logLikelihood
        let seq = ctx + cont
        let wte = m.tokenEmbedding.weight.values.map(Double.init), wpe = m.positionEmbedding!.weight.values.map(Double.init)
        let g = m.finalNorm.weight.values.map(Double.init), b = m.finalNorm.bias!.values.map(Double.init)
        var expected = 0.0
        for t in 1..<seq.count where t >= ctx.count {
            // Hidden state at position t − 1 predicts token t.
            let p = t - 1
            var h = (0..<8).map { wte[Int(seq[p]) * 8 + $0] + wpe[p * 8 + $0] }
            let mean = h.reduce(0, +) / 8, v = h.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 8
            h = h.enumerated().map { ($0.element - mean) / (v + 1e-5).squareRoot() * g[$0.offset] + b[$0.offset] }
            let logits = (0..<257).map { j in (0..<8).map { h[$0] * wte[j * 8 + $0] }.reduce(0, +) }
            let mx = logits.max()!
            let lse = mx + Foundation.log(logits.map { Foundation.exp($0 - mx) }.reduce(0, +))
            expected += logits[Int(seq[t])] - lse
        }
        XCTAssertEqual(got, expected, accuracy: 1e-4)
    }

    /// An empty context scores every continuation token, after `<|endoftext|>` (lm-eval's rule).
    func testEmptyContextScoresTheFirstContinuationToken() throws {
        let m = try GPTModel(config: ModelConfig(vocabSize: 257, context: 16, layers: 1, dModel: 8, heads: 1), seed: 5)
        let scorer = Scorer(model: m, tokenizer: Self.bytes)
        let cont: [Int32] = [116, 104, 101]
        let s = scorer.logLikelihoods([Scorer.Request(context: [], continuation: cont),
                                       Scorer.Request(context: [256], continuation: cont)])
        XCTAssertEqual(s[0].tokenLogLikelihoods.count, 3)
        XCTAssertEqual(s[0].logLikelihood, s[1].logLikelihood, accuracy: 1e-6)
        XCTAssertLessThan(s[0].tokenLogLikelihoods[0], 0)
    }

    func testBoundaryRuleWhenATokenSpansContextAndContinuation() throws {
        let gpt2 = try VocabularyFiles.load("gpt2")
        // "Hello world" is [15496, 995]: " world" spans "Hello wor" | "ld".
        let a = RequestEncoding.encodePair(gpt2, context: "Hello wor", continuation: "ld")
        XCTAssertTrue(a.spansBoundary)
        XCTAssertEqual(a.context, gpt2.encode("Hello wor"))
        XCTAssertEqual(a.continuation, gpt2.encode("ld"))
        // Trailing spaces move to the continuation: " sat" stays one token.
        let b = RequestEncoding.encodePair(gpt2, context: "The cat ", continuation: "sat")
        XCTAssertFalse(b.spansBoundary)
        XCTAssertEqual(b.context, gpt2.encode("The cat"))
        XCTAssertEqual(b.continuation, gpt2.encode(" sat"))
        XCTAssertEqual(b.context + b.continuation, gpt2.encode("The cat sat"))
    }

    func testFewShotSamplingIsDeterministicExcludesTheDocumentAndIgnoresOrder() throws {
        let lines = (0..<30).map { "{\"id\": \($0), \"q\": \"q\($0)\", \"a\": \"a\($0)\"}" }.joined(separator: "\n")
        let dir = tmpTask("fs", spec: #"{"output_type": "generate_until", "doc_to_text": "{{q}}", "doc_to_target": "{{a}}", "fewshot_split": "test"}"#, test: lines)
        var task = try EvalTask.load(dir)
        let b = PromptBuilder(task: task, tokenizer: Self.bytes, maxTokens: 4096)
        let doc = task.test[7]
        let e1 = try b.examples(for: doc, k: 5, seed: 3).map(\.id), e2 = try b.examples(for: doc, k: 5, seed: 3).map(\.id)
        XCTAssertEqual(e1, e2)
        XCTAssertEqual(Set(e1).count, 5)
        XCTAssertFalse(e1.contains(7))
        XCTAssertNotEqual(try b.examples(for: doc, k: 5, seed: 4).map(\.id), e1)
        for d in task.test { XCTAssertFalse(try b.examples(for: d, k: 29, seed: 1).map(\.id).contains(d.id)) }
        // Reordering the documents does not change a document's examples.
        task.test.reverse()
        let b2 = PromptBuilder(task: task, tokenizer: Self.bytes, maxTokens: 4096)
        XCTAssertEqual(try b2.examples(for: doc, k: 5, seed: 3).map(\.id).sorted(), e1.sorted())
        // Prompt layout and truncation by dropping examples from the front.
        let ctx = try b.context(doc, examples: try b.examples(for: doc, k: 2, seed: 3))
        XCTAssertTrue(ctx.hasSuffix("\n\nq7"))
        let tight = PromptBuilder(task: task, tokenizer: Self.bytes, maxTokens: 20)
        let (p, used) = try tight.prompt(doc, shots: 8, seed: 3, continuationTokens: 3)
        XCTAssertLessThan(used, 8)
        XCTAssertLessThanOrEqual(Self.bytes.encode(p).count + 3, 20)
    }

    func testMalformedTasksAreRejectedWithFileAndLine() {
        func expectError(_ spec: String, _ test: String, _ parts: [String], line: UInt = #line) {
            let dir = tmpTask("bad\(line)", spec: spec, test: test)
            XCTAssertThrowsError(try EvalTask.load(dir), line: line) { e in
                for p in parts { XCTAssertTrue("\(e)".contains(p), "'\(e)' should mention '\(p)'", line: line) }
            }
        }
        let mc = #"{"output_type": "multiple_choice", "doc_to_text": "{{q}}", "doc_to_target": "{{gold}}", "doc_to_choice": "{{choices}}"}"#
        expectError(mc, "{\"q\": \"a\", \"gold\": 0, \"choices\": [\"x\"]}\n{\"gold\": 1, \"choices\": [\"x\", \"y\"]}\n", ["test.jsonl:2", "'q'"])
        expectError(mc, "{\"q\": \"a\", \"gold\": 0, \"choices\": []}\n", ["test.jsonl:1", "no choices"])
        expectError(mc, "{\"q\": \"a\", \"gold\": 5, \"choices\": [\"x\", \"y\"]}\n", ["test.jsonl:1", "out of range"])
        expectError(mc, "{\"q\": \"a\", \"gold\": 0, \"choices\": [\"x\"]}\n{\"q\": broken}\n", ["test.jsonl:2"])
        expectError(#"{"output_type": "multiple_choice", "doc_to_text": "{{q}}"}"#, "{}\n", ["task.json", "doc_to_choice"])
        expectError(#"{"output_type": "multiple_choice", "doc_to_text": "{{q}}", "doc_to_target": "0", "doc_to_choice": []}"#, "{}\n", ["task.json", "empty"])
        expectError(#"{"output_type": "classify", "doc_to_text": "x"}"#, "{}\n", ["task.json", "output_type"])
        expectError(#"{"output_type": "generate_until", "doc_to_text": "{{q", "doc_to_target": "x"}"#, "{}\n", ["task.json", "unclosed"])
        expectError(#"{"output_type": "generate_until", "doc_to_text": "x", "doc_to_target": "x", "shots": 3}"#, "{}\n", ["task.json", "unknown field"])
        // Spec errors name the line the field is on.
        expectError("{\n  \"output_type\": \"generate_until\",\n  \"doc_to_text\": \"x\",\n  \"doc_to_target\": \"{{y\"\n}", "{}\n", ["task.json:4", "unclosed"])
        expectError("{\n  \"output_type\": \"generate_until\",\n  \"doc_to_text\": \"x\",\n  \"doc_to_target\": \"y\",\n  \"max_gen_toks\": -1\n}", "{}\n", ["task.json:5", "max_gen_toks"])
    }

    func testEndToEndOutputsHaveTheContractShape() throws {
        let test = (0..<6).map { "{\"q\": \"item\($0)\", \"gold\": \($0 % 2)}" }.joined(separator: "\n")
        let dir = tmpTask("e2e", spec: #"{"output_type": "multiple_choice", "doc_to_text": "{{q}} is", "doc_to_target": "{{gold}}", "doc_to_choice": ["odd", "even"], "fewshot_split": "test"}"#, test: test)
        let task = try EvalTask.load(dir)
        XCTAssertEqual(task.chance(), 0.5)
        let m = try GPTModel(config: ModelConfig(vocabSize: 257, context: 64, layers: 1, dModel: 16, heads: 2), seed: 1)
        let ev = FewShotEvaluator(model: m, tokenizer: Self.bytes, modelName: "tiny")
        let r = try ev.evaluate(task, shots: [0, 2], seeds: 2, limit: nil)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try ev.write([r], parameters: m.config.parameters, to: out)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
        let byShots = summary[task.spec.name] as! [String: Any]
        XCTAssertEqual(Set(byShots.keys), ["0", "2"])
        let acc = (byShots["2"] as! [String: Any])["acc"] as! [String: Any]
        XCTAssertNotNil(acc["value"] as? Double)
        XCTAssertNotNil(acc["stderr"] as? Double)
        XCTAssertEqual(acc["chance"] as? Double, 0.5)
        let samples = try String(contentsOf: out.appendingPathComponent("samples.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(samples.count, 6 * 2 * 2)  // documents × shot counts × seeds
        let first = try JSONSerialization.jsonObject(with: Data(samples[0].utf8)) as! [String: Any]
        XCTAssertEqual((first["loglikelihoods"] as! [Double]).count, 2)
        XCTAssertTrue(try String(contentsOf: out.appendingPathComponent("shots.csv"), encoding: .utf8).hasPrefix("task,model,parameters,shots,metric,value,stderr,chance"))
    }

    /// Perplexity tasks report a uniform model's figures as their chance baseline.
    func testRollingTaskHasAUniformModelBaseline() throws {
        let test = (0..<3).map { "{\"text\": \"to be or not to be, number \($0)\"}" }.joined(separator: "\n")
        let dir = tmpTask("rolling", spec: #"{"output_type": "loglikelihood_rolling", "doc_to_text": "{{text}}"}"#, test: test)
        let task = try EvalTask.load(dir)
        let m = try GPTModel(config: ModelConfig(vocabSize: 257, context: 16, layers: 1, dModel: 16, heads: 2), seed: 1)
        let r = try FewShotEvaluator(model: m, tokenizer: Self.bytes, modelName: "tiny").evaluate(task, shots: [0], seeds: 1, limit: nil)
        let ppl = r.metrics[0]!["perplexity"]!, bpb = r.metrics[0]!["bits_per_byte"]!
        XCTAssertEqual(ppl.chance!, 257, accuracy: 1e-9)
        XCTAssertEqual(bpb.chance!, Foundation.log2(257.0), accuracy: 1e-9)  // byte tokens: one token per byte
        // An untrained model is close to uniform.
        XCTAssertEqual(ppl.value, 257, accuracy: 60)
    }

    func testStandardErrors() {
        let m = Metrics.mean([1, 0, 1, 1])
        XCTAssertEqual(m.value, 0.75)
        XCTAssertEqual(m.stderr, 0.25, accuracy: 1e-12)
        let b1 = Metrics.bootstrap([1.0, 2, 3, 4, 5]) { $0.reduce(0, +) / Double($0.count) }
        let b2 = Metrics.bootstrap([1.0, 2, 3, 4, 5]) { $0.reduce(0, +) / Double($0.count) }
        XCTAssertEqual(b1.stderr, b2.stderr)
        XCTAssertEqual(b1.stderr, (2.5 / 5).squareRoot(), accuracy: 0.12)
    }

    func testShippedTasksLoad() throws {
        for name in TaskGenerators.names {
            let t = try EvalTask.load(ResourceLocator.find("evals/\(name)")!)
            XCTAssertFalse(t.test.isEmpty, name)
        }
    }
}
