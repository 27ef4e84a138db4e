import Foundation
import TLLMCore

// MARK: - Tables

extension DictionaryExperiments {
    /// Runs the parts and writes `dictionary.md`, `dictionary-self-taught.csv`,
    /// `dictionary-sdl.csv` and (with a model) `dictionary-lm.csv` into `output`.
    public func run(output: URL, model: URL?, progress: @escaping (String) -> Void) throws {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        var md = "# Dictionary learning\n\nMade by `tllm experiment dictionary` on \(CPUFeatures.modelName), \(Threading.count) threads.\n"
        let t0 = Clock.now()
        md += try selfTaughtSection(output, progress)
        md += try coupledSection(output, progress)
        if let model {
            md += try languageModelSection(output, model: model, progress)
        } else {
            md += "\n## Sparse features of a language model\n\nNot run: give `--model RUN` (a trained GPT run folder, e.g. from `make train`).\n"
        }
        md += String(format: "\nTotal time %.1f min.\n", (Clock.now() - t0) / 60)
        try AtomicFile.write(md, to: output.appendingPathComponent("dictionary.md"))
    }

    func selfTaughtSection(_ output: URL, _ progress: (String) -> Void) throws -> String {
        let rows = try selfTaught(progress: progress)
        var csv = "features,dimension,labels_per_class,seed,accuracy\n"
        for r in rows { csv += "\(r.features),\(r.dimension),\(r.labelsPerClass),\(r.seed),\(r.accuracy)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("dictionary-self-taught.csv"))
        let s = settings
        var md = """

        ## Self-taught learning on digits

        Unlabelled source: the digits 0–4 (labels unused). A dictionary (batch, α = 1, 30 iterations) and a PCA
        are learned there; the labelled target is the digits 5–9, of which 40% are held out for testing and
        1, 5, 10, 50 or all remaining labelled images per class train a logistic regression (C = 1, raw features,
        as scikit-learn's default). "Split ±" codes are [max(u, 0) | max(−u, 0)] (Coates & Ng, 2011). Codes: Lasso (coordinate descent) at α = \(s.selfTaughtAlpha). Test accuracy, mean ± std over
        seeds \(s.seeds.map(String.init).joined(separator: ", ")) (the seed draws the split and the labelled images).

        | features | dim |
        """
        let sizes = s.labelsPerClass
        md += sizes.map { $0 == 0 ? " all |" : " \($0)/class |" }.joined() + "\n|---|---:|" + String(repeating: "---:|", count: sizes.count) + "\n"
        var seen: [String] = []
        for r in rows where !seen.contains("\(r.features)/\(r.dimension)") {
            seen.append("\(r.features)/\(r.dimension)")
            md += "| \(r.features) | \(r.dimension) |"
            for n in sizes {
                md += " " + Self.pm(rows.filter { $0.features == r.features && $0.dimension == r.dimension && $0.labelsPerClass == n }.map(\.accuracy)) + " |"
            }
            md += "\n"
        }
        return md
    }

    func coupledSection(_ output: URL, _ progress: (String) -> Void) throws -> String {
        let rows = try semiCoupled(progress: progress)
        var csv = "method,seed,psnr_db,accuracy\n"
        for r in rows { csv += "\"\(r.method)\",\(r.seed),\(r.psnr.isNaN ? "" : "\(r.psnr)"),\(r.accuracy)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("dictionary-sdl.csv"))
        let s = settings
        var md = """

        ## Semi-coupled dictionaries: 4×4 noisy digits → 8×8

        Domain X: the 8×8 digits in [0, 1]; domain Y: 2×2 block means (4×4) plus N(0, \(s.degradationNoise)²) noise.
        1,200 random images train, the other 597 test. Reconstructions of X from Y on the test images: PSNR
        (peak 1, over the whole test set) and the accuracy of a logistic regression trained on clean training
        images when given each reconstruction. Dictionaries: \(s.coupledAtoms) atoms per domain, α = \(s.coupledAlpha), γ = \(s.coupledGamma), λ = 0.01,
        both domains centred, 20 alternations (the coupled-dictionary row is the joint start: shared codes, W by ridge,
        no alternation).
        Ridge: λ = 0.1 with intercept. Mean ± std over seeds \(s.seeds.map(String.init).joined(separator: ", ")).

        | reconstruction of X from Y | PSNR (dB) | accuracy of the clean-image classifier |
        |---|---:|---:|

        """
        var seen: [String] = []
        for r in rows where !seen.contains(r.method) {
            seen.append(r.method)
            let mine = rows.filter { $0.method == r.method }
            let psnr = r.psnr.isNaN ? "—" : Self.pm(mine.map(\.psnr), 2)
            md += "| \(r.method) | \(psnr) | \(Self.pm(mine.map(\.accuracy))) |\n"
        }
        return md
    }

    func languageModelSection(_ output: URL, model: URL, _ progress: (String) -> Void) throws -> String {
        let (rows, atoms, about) = try languageModel(run: model, progress: progress)
        var csv = "alpha,atoms,nonzeros_per_token,relative_error,dead_atoms,batches,seconds\n"
        for r in rows { csv += "\(r.alpha),\(r.atoms),\(r.nonzeros),\(r.relativeError),\(r.deadAtoms),\(r.batches),\(r.seconds)\n" }
        try AtomicFile.write(csv, to: output.appendingPathComponent("dictionary-lm.csv"))
        let s = settings
        var md = """

        ## Sparse features of tllm's own language model

        Model: \(about). Residual stream after block \(s.layer), centred and scaled to unit mean squared norm;
        \(s.trainTokens) tokens learn an online dictionary of \(s.lmAtoms) atoms (batches of 256, up to 3 passes),
        \(s.testTokens) other tokens score it (every fifth 256-token sequence). Relative error = ‖x − x̂‖²/‖x‖² on
        the test tokens; dead atoms = atoms no test token uses.

        | α | non-zeros per token | relative error | variance explained | dead atoms | batches | fit s |
        |---:|---:|---:|---:|---:|---:|---:|

        """
        for r in rows {
            md += String(format: "| %g | %.1f | %.3f | %.1f%% | %d | %d | %.1f |\n", r.alpha, r.nonzeros, r.relativeError,
                         100 * (1 - r.relativeError), r.deadAtoms, r.batches, r.seconds)
        }
        let mid = s.lmAlphas[s.lmAlphas.count / 2]
        md += "\n### What some atoms respond to (α = \(mid))\n\nEight atoms active on 0.2–5% of tokens; for each, its five strongest activations: up to ten tokens of context, then **the token**.\n"
        for a in atoms {
            md += String(format: "\n**Atom %d** (active on %.2f%% of tokens)\n\n", a.atom, 100 * a.usage)
            for e in a.examples {
                md += String(format: "- `%@` **`%@`** (%.2f)\n", Self.inline(e.before), Self.inline(e.token), e.value)
            }
        }
        return md
    }

    /// Text for a Markdown code span on one line.
    static func inline(_ s: String) -> String {
        s.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "`", with: "'")
    }
}
