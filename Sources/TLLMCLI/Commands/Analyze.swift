import Foundation
import TLLMCore
import TLLMModels
import TLLMPlot

/// `tllm analyze heads`: Olsson et al.'s per-head measurements of a trained GPT.
struct AnalyzeHeadsCommand: ParsableCommand {
    static let info = CommandInfo(
        name: "analyze heads",
        summary: "per-head prefix-matching and copying scores, the ICL score, and an SVG of a head's attention",
        usage: "--model RUN [--period 25] [--sequences 16] [--first-token 0 --last-token V-1] [--seed 1] [--svg FILE [--layer L --head H]] [--json]",
        discussion: """
        The probe (Olsson et al., 2022): sequences of `period` distinct random tokens repeated once.
        Prefix matching: attention from a repeated token to the token after its first occurrence (1 = an
        induction head). Copying: Σ Re λ / Σ |λ| over the eigenvalues of the head's OV circuit (1 = it raises
        the logit of what it attends to). ICL score: mean loss on the repeat minus on the first run.
        --svg draws one head's pattern on the first probe sequence (the best prefix-matching head unless
        --layer/--head say otherwise).
        """)

    @Option("--model", "RUN", help: "a run folder or model directory (a tllm GPT)") var model: String?
    @Option("--period", "N", help: "tokens in the random run", .positive, defaultDescription: "min(25, (context)/2)") var period: Int?
    @Option("--sequences", "N", help: "probe sequences", .positive) var sequences = 16
    @Option("--first-token", "ID", help: "lowest token id of the random runs", .nonNegative) var firstToken = 0
    @Option("--last-token", "ID", help: "highest token id of the random runs", .nonNegative, defaultDescription: "vocabulary size − 1") var lastToken: Int?
    @Option("--seed", "S", help: "probe seed") var seed: UInt64 = 1
    @Option("--svg", "FILE", help: "write this head's attention pattern as SVG (must not exist)") var svg: String?
    @Option("--layer", "L", help: "with --svg: layer (from 0)", .nonNegative) var layer: Int?
    @Option("--head", "H", help: "with --svg: head (from 0)", .nonNegative) var head: Int?
    let output = OutputOptions()
    let runtime = RuntimeOptions()

    func run() throws {
        guard let model else { throw CLIError("tllm analyze heads: --model RUN is required") }
        if let svg, FileManager.default.fileExists(atPath: svg) {
            throw TLLMError("already exists; choose another --svg (tllm does not overwrite files)", file: svg)
        }
        let (m, c, _) = try ModelStore.load(URL(fileURLWithPath: model))
        guard let gpt = m as? GPTModel else { throw CLIError("tllm analyze heads: \(model) is a \(c.architecture) model; this needs a GPT") }
        let last = lastToken ?? (c.vocabSize - 1)
        guard last < c.vocabSize, firstToken <= last else {
            throw CLIError("tllm analyze heads: --first-token \(firstToken) … --last-token \(last) must lie in the vocabulary 0…\(c.vocabSize - 1)")
        }
        let p = period ?? min(25, c.context / 2)
        guard 2 * p <= c.context else { throw CLIError("tllm analyze heads: --period \(p) repeated is \(2 * p) tokens, longer than the context \(c.context)") }
        guard p >= 2, last - firstToken + 1 >= p else {
            throw CLIError("tllm analyze heads: --period \(p) needs at least \(p) distinct tokens between --first-token and --last-token")
        }
        if (layer != nil || head != nil) && svg == nil { throw CLIError("tllm analyze heads: --layer/--head choose the head of --svg; give --svg FILE") }
        if let layer, layer >= c.layers { throw CLIError("tllm analyze heads: --layer \(layer): the model has layers 0…\(c.layers - 1)") }
        if let head, head >= c.heads { throw CLIError("tllm analyze heads: --head \(head): the model has heads 0…\(c.heads - 1)") }

        let probes = HeadAnalysis.repeatedRandomSequences(tokens: firstToken..<(last + 1), period: p, count: sequences, seed: seed)
        let report = HeadAnalysis.report(gpt, sequences: probes, period: p)
        let best = report.heads.max { $0.prefixMatching < $1.prefixMatching }!
        if let svg {
            let l = layer ?? best.layer, h = head ?? best.head
            try writePattern(gpt, tokens: probes[0], layer: l, head: h, to: svg)
        }
        if output.json { printJSON(encodable: report); return }
        print(String(format: "%d probe sequences of %d random tokens repeated; ICL score %.3f nats (first run %.3f, repeat %.3f)",
                     sequences, p, report.iclScore, report.firstRunLoss, report.repeatLoss))
        print("head   prefix-matching  copying")
        for s in report.heads {
            print(String(format: "%2d.%-2d  %15.3f  %7.3f%@", s.layer, s.head, s.prefixMatching, s.copying,
                         s.layer == best.layer && s.head == best.head ? "  ← best" : ""))
        }
        if let svg { Log.info("wrote \(svg)") }
    }

    func writePattern(_ model: GPTModel, tokens: [Int32], layer l: Int, head h: Int, to path: String) throws {
        let T = tokens.count
        let pattern = HeadAnalysis.patterns(model, tokens: tokens)[l]
        let values = (0..<T).map { i in (0..<T).map { j in Double(pattern[(h * T + i) * T + j]) } }
        let labels = tokens.enumerated().map { "\($0.offset): \($0.element)" }
        let map = Heatmap(title: "Attention of head \(l).\(h) on a random run of \(T / 2) tokens repeated", rowLabels: labels,
                          columnLabels: labels, values: values)
        try AtomicFile.write(map.svg(), to: URL(fileURLWithPath: path))
    }
}
