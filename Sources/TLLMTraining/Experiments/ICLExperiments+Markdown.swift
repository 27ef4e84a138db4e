import Foundation
import TLLMCore
import TLLMData

extension ICLExperiments {
    func markdown(_ s: Summary, phase: [Trained], recall: [Trained]) -> String {
        func f(_ x: Double?, _ d: Int = 3) -> String { x.map { String(format: "%.\(d)f", $0) } ?? "—" }
        var md = """
        # In-context learning that emerges

        Made by `tllm experiment icl\(s.quick ? " --quick" : "")` on \(s.cpu), \(s.threads) threads, in \(f(s.seconds / 60, 1)) minutes.
        Every symbol is one token (`SymbolicVocabulary`: keys, values, random symbols, items, labels); every
        training sequence is drawn fresh, and accuracy is measured on 256 held-out sequences whose maps were never
        seen. Files: `summary.json`, `phase-change.csv/.svg`, `mqar.csv/.svg`, `label-mapping.csv/.svg`,
        `label-mapping-training.csv`.

        ## Models

        | model | layers | attention-only | parameters | steps | recall / task accuracy | best prefix matching | ICL score (nats) | seconds |
        |---|---:|---|---:|---:|---:|---:|---:|---:|

        """
        for m in s.models {
            md += "| \(m.name) | \(m.layers) | \(m.attentionOnly ? "yes" : "no") | \(m.params) | \(m.steps) | \(f(m.recallAccuracy)) | \(f(m.maxPrefixMatching)) | \(f(m.iclScore, 2)) | \(f(m.seconds, 0)) |\n"
        }
        let pc = s.phaseChange
        md += """

        ## 1. The phase change (`phase-change.svg`)

        Two-layer and one-layer attention-only models (d = 64, 2 heads, learned positions) trained on MQAR with 4
        pairs and 4 queries. Prefix matching (Olsson et al.): the attention from each query key to the value that
        followed the key's earlier occurrence, on 16 held-out recall sequences (a perfect induction head scores 1;
        a head spread evenly over the 4 values, 0.25). ICL score: mean loss on the answers to the queries minus the
        loss at an early token, where nothing in the context can help; training scores only the queries (scoring
        the first sight of each value too stalls learning at an elimination shortcut: 0.52 accuracy after 15,000
        steps, measured), so the early loss is the context-free guess over 64 values, ln 64 = 4.16. It starts
        positive (an untrained model is worse than uniform), falls to about −2.3 as soon as the model guesses among
        the values in context (−ln 64 + ln 4), and to −4.16 when recall is perfect.

        2-layer model: the best head's prefix matching sat at a plateau of \(f(pc.plateau, 2)) early on and rose from 10% to 90%
        of the way to its final value between steps \(pc.riseFrom.map(String.init) ?? "—") and \(pc.riseTo.map(String.init) ?? "—") (\(pc.riseFraction.map { String(format: "%.0f%%", 100 * $0) } ?? "—") of training);
        the ICL score made its 10–90% drop between steps \(pc.iclFrom.map(String.init) ?? "—") and \(pc.iclTo.map(String.init) ?? "—"). Literally, prefix matching was last
        below 0.1 at step \(pc.lastStepBelow.map(String.init) ?? "—") and first above 0.5 at step \(pc.firstStepAbove.map(String.init) ?? "—").
        The 1-layer control ends at prefix matching \(f(phase.last?.summary.maxPrefixMatching)) and recall accuracy
        \(f(phase.last?.summary.recallAccuracy)): one layer cannot compose a previous-token head with a matching head.

        ## 2. Associative recall against width and pairs (`mqar.svg`)

        | model | final accuracy |
        |---|---:|

        """
        for t in recall { md += "| \(t.trainer.plan.name) | \(f(t.summary.recallAccuracy)) |\n" }
        md += """

        ## 3. Label mapping: bursty against uniform training (`label-mapping.svg`)

        Training: \(SymbolicVocabulary().trainingItems) items, \(SymbolicVocabulary().labels) labels drawn fresh for every sequence (only the context tells an item's
        label), scored on the lines of items seen before in the sequence; bursty: \(SymbolicVocabulary().burstyItems) items per sequence,
        each repeated; uniform: every line an item drawn from all of them (repeats are rare). Curriculum (2-layer
        attention-only, d 64): \(settings.labelSteps) steps of label sequences of 8 lines mixed with associative recall (4 pairs),
        then \(settings.labelLongSteps) steps with sequences of 17 lines added (8-shot prompts are 34 tokens). Label lines alone,
        bursty or not, stall at choosing among the labels in context (0.5) — see the README. Evaluation: 512 sequences,
        labels drawn fresh, k lines of the query item and k of a distractor item with another label, shuffled, then the
        query item; chance is 1/\(SymbolicVocabulary().labels), guessing one of the labels in context 0.5, reading the item's own label 1.

        | training | 
        """
        let shots = settings.shots
        md += shots.map { "\($0) shots |" }.joined(separator: " ") + "\n|---|" + String(repeating: "---:|", count: shots.count) + "\n"
        for name in s.labelMapping.keys.sorted() {
            md += "| \(name) | " + shots.map { f(s.labelMapping[name]?["\($0)"]) + " |" }.joined(separator: " ") + "\n"
        }
        return md
    }
}
