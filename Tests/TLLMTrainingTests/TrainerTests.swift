import Foundation
import XCTest
import TLLMCore
import TLLMData
import TLLMModels
import TLLMTokenizer
import TLLMTraining

final class TrainerTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    static let tokenizer: Tokenizer = try! VocabularyFiles.load(nil)
    static let data: TokenizedCorpus = {
        let corpus = try! Corpus.load(path: ResourceLocator.find("corpora/shakespeare")!.path)
        var small = corpus
        small.documents = Array(corpus.documents.prefix(4))
        return try! TokenizedCorpus.make(small, tokenizer: tokenizer, validationFraction: 0.25, cacheDirectory: nil)
    }()

    func tmp(_ name: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("tllm-train-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: u)
        return u
    }

    func options(steps: Int) -> TrainingOptions {
        var o = TrainingOptions()
        o.batch = 2; o.context = 16; o.steps = steps; o.warmupSteps = 2; o.learningRate = 3e-3
        o.evalEvery = 3; o.evalTokens = 256; o.checkpointEvery = 2; o.logEvery = 1; o.samples = 1; o.sampleTokens = 5
        return o
    }

    var config: ModelConfig {
        var c = ModelConfig(vocabSize: Self.tokenizer.vocabularySize, context: 16, layers: 2, dModel: 32, heads: 2)
        c.dropout = 0.1  // dropout makes the RNG state part of what must resume exactly
        return c
    }

    func makeTrainer(_ run: URL, steps: Int, resume: Bool, dataParallel: Bool = false) throws -> Trainer {
        let model = try GPTModel(config: config, seed: 9)
        var o = options(steps: steps)
        o.seed = 9
        o.dataParallel = dataParallel
        let obj = try CausalLMObjective(model: model, tokenizer: Self.tokenizer, data: Self.data, options: o)
        let t = try Trainer(objective: obj, options: o, run: run, tokenizerJSON: VocabularyFiles.encodeJSON(Self.tokenizer), resume: resume)
        t.progress = ProgressDisplay(forceLines: true)
        return t
    }

    /// Losses and validation columns of metrics.csv (timing columns differ between runs).
    func metricsCore(_ run: URL) throws -> [String] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            return cells.prefix(6).joined(separator: ",")  // step, tokens, train_loss, val_loss, val_bpb, lr
        }
    }

    func testResumeIsBitIdenticalToAStraightRun() throws { try checkResume(dataParallel: false) }

    /// The data-parallel path (chosen automatically for d_model ≤ 256) resumes exactly too.
    func testDataParallelResumeIsBitIdenticalToAStraightRun() throws { try checkResume(dataParallel: true) }

    func checkResume(dataParallel dp: Bool) throws {
        let straight = tmp("straight-\(dp)"), split = tmp("split-\(dp)")
        let a = try makeTrainer(straight, steps: 7, resume: false, dataParallel: dp)
        try a.train()
        // The same 7-step run stopped after 5 steps (as Ctrl-C or --stop-at would), then resumed.
        let b = try makeTrainer(split, steps: 7, resume: false, dataParallel: dp)
        try b.train(stopAt: 5)
        let c = try makeTrainer(split, steps: 7, resume: true, dataParallel: dp)
        XCTAssertEqual(c.state.step, 5)
        try c.train()
        for ((n1, p), (n2, q)) in zip(a.objective.namedParameters, c.objective.namedParameters) {
            XCTAssertEqual(n1, n2)
            XCTAssertTrue(p.values == q.values, "\(n1) differs after resume")
        }
        XCTAssertEqual(try metricsCore(straight), try metricsCore(split))
        XCTAssertEqual(a.state.dataRNG, c.state.dataRNG)
        XCTAssertEqual(a.state.dropoutRNG, c.state.dropoutRNG)
        // The saved checkpoints agree too.
        let w1 = try SafeTensors.read(Checkpoint.directory(straight).appendingPathComponent("model.safetensors"))
        let w2 = try SafeTensors.read(Checkpoint.directory(split).appendingPathComponent("model.safetensors"))
        XCTAssertEqual(w1.metadata["tllm_checksum"], w2.metadata["tllm_checksum"])
    }

    /// `--resume` continues on the run's own corpus, and refuses a different one.
    func testResumeKeepsTheRunsCorpus() throws {
        let dir = tmp("corpus"), run = tmp("corpus-run")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: ResourceLocator.find("corpora/shakespeare/macbeth.txt")!.path, encoding: .utf8)
        try String(text.prefix(20_000)).write(to: dir.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try String(text.suffix(20_000)).write(to: dir.appendingPathComponent("b.txt"), atomically: true, encoding: .utf8)
        var r = TrainRequest()
        r.layers = 1; r.dModel = 32; r.heads = 1; r.context = 16; r.steps = 3; r.dataParallel = false
        r.corpus = dir.path; r.out = run
        r.options.batch = 2; r.options.evalEvery = 10; r.options.evalTokens = 64; r.options.samples = 0; r.options.warmupSteps = 1
        let plan = try LanguageModelTraining.plan(r) { _ in }
        _ = try LanguageModelTraining.execute(plan, progress: ProgressDisplay(forceLines: true), stopAt: 1)
        var resume = TrainRequest()
        resume.resume = run
        let again = try LanguageModelTraining.plan(resume) { _ in }
        XCTAssertEqual(again.corpusName, plan.corpusName)
        XCTAssertEqual(again.data.train.count, plan.data.train.count)
        resume.corpus = "kjv"
        XCTAssertThrowsError(try LanguageModelTraining.plan(resume) { _ in }) { e in XCTAssertTrue("\(e)".contains("same corpus"), "\(e)") }
    }

    func testNaNStopsTheRunAndKeepsTheLastCheckpoint() throws {
        let run = tmp("nan")
        let model = try GPTModel(config: config, seed: 3)
        var o = options(steps: 40)
        o.learningRate = 1e6
        o.gradientClip = 0
        o.warmupSteps = 1
        o.checkpointEvery = 1
        let obj = try CausalLMObjective(model: model, tokenizer: Self.tokenizer, data: Self.data, options: o)
        let t = try Trainer(objective: obj, options: o, run: run, tokenizerJSON: "{}", resume: false)
        t.progress = ProgressDisplay(forceLines: true)
        XCTAssertThrowsError(try t.train()) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("NaN") || s.contains("infinite"), s)
            XCTAssertTrue(s.contains("last good checkpoint"), s)
        }
        // The checkpoint on disk holds finite weights.
        let st = try Checkpoint.readState(try Checkpoint.locate(run: run))
        let w = try SafeTensors.read(Checkpoint.directory(run).appendingPathComponent("model.safetensors"))
        XCTAssertTrue(w.tensors.values.allSatisfy { $0.values.allSatisfy(\.isFinite) })
        XCTAssertGreaterThan(st.step, 0)
    }

    func testInterruptedSaveFallsBackToThePreviousCheckpoint() throws {
        let run = tmp("swap")
        let t = try makeTrainer(run, steps: 2, resume: false)
        try t.train()
        // Simulate a crash between the two renames: only checkpoint.old exists.
        let fm = FileManager.default
        try fm.moveItem(at: Checkpoint.directory(run), to: run.appendingPathComponent("checkpoint.old"))
        XCTAssertEqual(try Checkpoint.locate(run: run).lastPathComponent, "checkpoint.old")
        let r = try makeTrainer(run, steps: 3, resume: true)
        XCTAssertEqual(r.state.step, 2)
        // A damaged trainer state is reported, not used.
        try fm.moveItem(at: run.appendingPathComponent("checkpoint.old"), to: Checkpoint.directory(run))
        let st = Checkpoint.directory(run).appendingPathComponent("trainer-state.safetensors")
        var d = try Data(contentsOf: st)
        d[d.count - 3] ^= 0x40
        try d.write(to: st)
        XCTAssertThrowsError(try makeTrainer(run, steps: 3, resume: true)) { XCTAssertTrue("\($0)".contains("trainer-state"), "\($0)") }
    }

    func testTrainingReducesValidationLoss() throws {
        let run = tmp("learn")
        let model = try GPTModel(config: config, seed: 5)
        var o = options(steps: 30)
        o.evalEvery = 30; o.samples = 0; o.batch = 4; o.learningRate = 3e-3
        let obj = try CausalLMObjective(model: model, tokenizer: Self.tokenizer, data: Self.data, options: o)
        let before = obj.evaluate()[.loss]!
        let t = try Trainer(objective: obj, options: o, run: run, tokenizerJSON: "{}", resume: false)
        t.progress = ProgressDisplay(forceLines: true)
        let s = try t.train()
        XCTAssertLessThan(s.validationLoss!, before - 1.0)
        XCTAssertEqual(s.steps, 30)
        XCTAssertEqual(s.tokens, 30 * 4 * 16)
    }
}

final class DataParallelTests: XCTestCase {
    override class func setUp() { BLASRuntime.prepare() }

    func testDataParallelGradientsMatchTheSerialStepAndAreReproducible() throws {
        let c = ModelConfig(vocabSize: 97, context: 16, layers: 2, dModel: 32, heads: 2)
        var rng = RandomGenerator(seed: 3)
        let x = (0..<(6 * 16)).map { _ in Int32(rng.nextInt(below: 97)) }, y = x.map { ($0 + 1) % 97 }
        let serial = try GPTModel(config: c, seed: 1)
        let ls = serial.loss(x, targets: y, batch: 6, length: 16, context: .inference)
        let serialLoss = Double(ls.item)
        ls.backward()
        func parallelGrads() throws -> (Double, [[Float]]) {
            let m = try GPTModel(config: c, seed: 1)
            let dp = DataParallelGPT(model: m)
            let l = dp.accumulate(inputs: x, targets: y, batch: 6, length: 16, scale: 1, context: .training(rng: nil))
            return (l, m.namedParameters.map { $0.1.grad!.values })
        }
        let (pl, pg) = try parallelGrads()
        XCTAssertEqual(pl, serialLoss, accuracy: 1e-5)
        for ((name, p), g) in zip(serial.namedParameters, pg) {
            let a = p.grad!.values
            let diff = zip(a, g).map { abs($0 - $1) }.max()!, scale = a.map(abs).max()!
            XCTAssertLessThan(diff, 1e-5 * max(1, scale) + 1e-7, name)
        }
        let (pl2, pg2) = try parallelGrads()
        XCTAssertEqual(pl, pl2)
        XCTAssertTrue(pg == pg2, "two data-parallel steps differ")
    }
}
