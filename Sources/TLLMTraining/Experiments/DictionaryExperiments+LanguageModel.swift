import Foundation
import TLLMCore
import TLLMData
import TLLMDictionary
import TLLMModels
import TLLMTokenizer

// MARK: - Sparse features of a language model's residual stream

extension DictionaryExperiments {
    public struct FeatureRow: Sendable {
        public var alpha: Float, atoms: Int, nonzeros: Double, relativeError: Double, deadAtoms: Int, batches: Int, seconds: Double
    }

    public struct AtomExamples: Sendable {
        public var atom: Int
        /// Share of tokens on which the atom is active.
        public var usage: Double
        /// The strongest activations: text before the token, the token, the code value.
        public var examples: [(before: String, token: String, value: Float)]
    }

    /// Residual-stream vectors after block `layer` of a trained GPT on its held-out plays, centred
    /// and scaled to unit mean squared norm; an online dictionary per α learned on `trainTokens`
    /// tokens and scored on `testTokens` others (relative squared error ‖x − x̂‖²/‖x‖², non-zeros
    /// per token); for the middle α, the top-activating contexts of eight atoms.
    public func languageModel(run: URL, progress: (String) -> Void) throws -> (rows: [FeatureRow], atoms: [AtomExamples], about: String) {
        let model = try ModelStore.loadGPT(run)
        let (_, config, dir) = try ModelStore.load(run)
        let tok = try ModelStore.tokenizer(for: dir, vocabularySize: config.vocabSize)
        guard (1...model.blockCount).contains(settings.layer) else {
            throw TLLMError("layer \(settings.layer) is outside 1…\(model.blockCount)", file: run.path)
        }
        let (names, tokens) = try heldOutTokens(run: run, tokenizer: tok)
        let T = config.context
        let sequences = (settings.trainTokens + settings.testTokens) / T
        guard tokens.count >= sequences * T else {
            throw TLLMError("the held-out text has \(tokens.count) tokens; \(sequences * T) are needed", file: run.path)
        }
        // Sequences spread over the held-out text; every fifth one is test data.
        let stride = tokens.count / sequences
        var trainIDs: [Int32] = [], testIDs: [Int32] = []
        for i in 0..<sequences {
            let chunk = tokens[(i * stride)..<(i * stride + T)]
            if i % 5 == 4 { testIDs += chunk } else { trainIDs += chunk }
        }
        progress("language model: residual stream after block \(settings.layer) on \(trainIDs.count) + \(testIDs.count) tokens")
        var train = hiddenStates(model, trainIDs, length: T), test = hiddenStates(model, testIDs, length: T)
        let (mean, scale) = Self.normalisation(train)
        Self.normalise(&train, mean: mean, scale: scale); Self.normalise(&test, mean: mean, scale: scale)

        var rows: [FeatureRow] = []
        var examples: [AtomExamples] = []
        for (i, alpha) in settings.lmAlphas.enumerated() {
            progress(String(format: "language model: α = %g, %d atoms", alpha, settings.lmAtoms))
            let t0 = Clock.now()
            let dict = DictionaryLearner(atoms: settings.lmAtoms, alpha: alpha, batchSize: 256, maxIterations: 3, seed: 1).fit(train)
            let seconds = Clock.now() - t0
            let U = dict.transform(test)
            let R = dict.inverseTransform(U)
            var err = 0.0
            for j in 0..<R.values.count { let e = Double(R.values[j] - test.values[j]); err += e * e }
            var used = [Bool](repeating: false, count: settings.lmAtoms)
            for r in 0..<U.rows { for a in 0..<U.cols where U[r, a] != 0 { used[a] = true } }
            rows.append(FeatureRow(alpha: alpha, atoms: settings.lmAtoms, nonzeros: Double(U.values.filter { $0 != 0 }.count) / Double(U.rows),
                                   relativeError: err / test.squaredNorm, deadAtoms: used.filter { !$0 }.count,
                                   batches: dict.iterations, seconds: seconds))
            if i == settings.lmAlphas.count / 2 {
                let codes = Matrix(rows: train.rows + test.rows, cols: settings.lmAtoms, values: dict.transform(train).values + U.values)
                examples = topContexts(codes, ids: trainIDs + testIDs, length: T, tokenizer: tok)
            }
        }
        let about = "`\(run.relativePath)` (\(config.layers) layers, d = \(config.dModel)), held-out plays: \(names.joined(separator: ", "))"
        return (rows, examples, about)
    }

    /// The run's held-out documents (from its `config.json`) as token ids.
    func heldOutTokens(run: URL, tokenizer: Tokenizer) throws -> ([String], [Int32]) {
        let configURL = run.appendingPathComponent("config.json")
        var names: [String] = []
        if let data = FileManager.default.contents(atPath: configURL.path),
           let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let held = json["validation_documents"] as? [String] { names = held }
        let corpus = try Corpus.load(nil)
        let docs = names.isEmpty ? corpus.validationIndices(fraction: 0.1).map { corpus.documents[$0] }
                                 : corpus.documents.filter { names.contains($0.name) }
        guard !docs.isEmpty else { throw TLLMError("none of the run's held-out documents are in the corpus", file: configURL.path) }
        return (docs.map(\.name), docs.flatMap { tokenizer.encode(bytes: $0.text) })
    }

    /// `[tokens, d]` residual-stream vectors after block `layer`, in batches of 8 sequences.
    func hiddenStates(_ model: GPTModel, _ ids: [Int32], length T: Int) -> Matrix {
        let d = model.config.dModel
        var out: [Float] = []; out.reserveCapacity(ids.count * d)
        Autograd.withNoGrad {
            for start in Swift.stride(from: 0, to: ids.count, by: 8 * T) {
                let chunk = Array(ids[start..<min(ids.count, start + 8 * T)])
                let h = model.hidden(chunk, batch: chunk.count / T, length: T, upTo: settings.layer)
                out.append(contentsOf: UnsafeBufferPointer(start: h.data, count: chunk.count * d))
            }
        }
        return Matrix(rows: ids.count, cols: d, values: out)
    }

    static func normalisation(_ X: Matrix) -> (mean: [Float], scale: Float) {
        let mean = (0..<X.cols).map { j in Float((0..<X.rows).reduce(0.0) { $0 + Double(X[$1, j]) } / Double(X.rows)) }
        var ss = 0.0
        for r in 0..<X.rows { for j in 0..<X.cols { let e = Double(X[r, j] - mean[j]); ss += e * e } }
        return (mean, Float((ss / Double(X.rows)).squareRoot()))
    }

    static func normalise(_ X: inout Matrix, mean: [Float], scale: Float) {
        for r in 0..<X.rows { for j in 0..<X.cols { X[r, j] = (X[r, j] - mean[j]) / scale } }
    }

    /// Eight atoms active on 0.2–5% of tokens (evenly spaced by usage), each with its five
    /// strongest activations and up to ten tokens before them (within the same sequence).
    func topContexts(_ U: Matrix, ids: [Int32], length T: Int, tokenizer: Tokenizer) -> [AtomExamples] {
        let n = Double(U.rows)
        var usage = [Double](repeating: 0, count: U.cols)
        for r in 0..<U.rows { for a in 0..<U.cols where U[r, a] > 0 { usage[a] += 1 / n } }
        let candidates = (0..<U.cols).filter { usage[$0] >= 0.002 && usage[$0] <= 0.05 }.sorted { usage[$0] < usage[$1] }
        guard !candidates.isEmpty else { return [] }
        let picks = (0..<min(8, candidates.count)).map { candidates[$0 * candidates.count / min(8, candidates.count)] }
        return picks.map { a in
            let top = (0..<U.rows).sorted { U[$0, a] > U[$1, a] }.prefix(5)
            let ex = top.map { r -> (String, String, Float) in
                let before = tokenizer.decode(Array(ids[max(r / T * T, r - 10)..<r]))
                return (before, tokenizer.decode([ids[r]]), U[r, a])
            }
            return AtomExamples(atom: a, usage: usage[a], examples: ex)
        }
    }
}
