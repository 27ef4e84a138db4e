import Foundation
import TLLMCore
import TLLMData

/// The downstream classification tasks of the transfer experiments (`tllm eval build-tasks`):
/// JSONL lines `{text, text_b?, label}` in fixed train / validation / test splits.
public enum ClassificationTaskGenerators {
    public static let names = ["shakespeare-genre", "domain", "same-scene"]

    public static func buildAll(root: URL) throws {
        let plays = try Corpus.load("shakespeare"), kjv = try Corpus.load("kjv")
        let split = playSplit(plays)
        try genre(root, plays, split)
        try domain(root, plays, split, kjv)
        try sameScene(root, plays, split)
    }

    /// Plays by split: per genre, the first play (in plays.tsv order) is test, the second
    /// validation, the rest train — so every genre appears in every split and test plays are unseen.
    static func playSplit(_ c: Corpus) -> [String: [Int]] {
        var byGenre: [String: [Int]] = [:]
        for (i, d) in c.documents.enumerated() { byGenre[d.label ?? "", default: []].append(i) }
        var out: [String: [Int]] = ["train": [], "validation": [], "test": []]
        for (_, idx) in byGenre {
            for (k, i) in idx.enumerated() { out[k == 0 ? "test" : (k == 1 ? "validation" : "train"), default: []].append(i) }
        }
        for k in out.keys { out[k]!.sort() }
        return out
    }

    static func speeches(_ d: Corpus.Document) -> [(text: String, scene: Int)] {
        var out: [(String, Int)] = []
        var scene = 0
        for s in d.segments {
            let t = String(decoding: d.text[s], as: UTF8.self)
            if t.hasPrefix("SCENE") || t.hasPrefix("ACT ") { if t.hasPrefix("SCENE") { scene += 1 }; continue }
            guard let first = t.split(separator: "\n").first, first.hasSuffix(":"), t.count >= 40 else { continue }
            out.append((t, scene))
        }
        return out
    }

    /// Consecutive speeches joined until about `chars` characters.
    static func passages(_ d: Corpus.Document, count: Int, chars: Int, rng: inout RandomGenerator) -> [String] {
        let sp = speeches(d).map(\.text)
        guard sp.count > 4 else { return [] }
        var out: [String] = []
        for _ in 0..<count {
            var i = rng.nextInt(below: sp.count - 1)
            var p = ""
            while i < sp.count && p.count < chars { p += (p.isEmpty ? "" : "\n\n") + sp[i]; i += 1 }
            out.append(String(p.prefix(chars * 2)))
        }
        return out
    }

    static func write(_ root: URL, _ name: String, _ splits: [String: [[String: Any]]], readme: String) throws {
        let dir = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (s, rows) in splits {
            let lines = try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
            try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: dir.appendingPathComponent("\(s).jsonl"))
        }
        let counts = splits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" }.joined(separator: ", ")
        try AtomicFile.write("# \(name)\n\n\(readme)\n\nExamples: \(counts). Format: JSONL `{text, text_b?, label}`.\nRebuild: `tllm eval build-tasks` (deterministic; Sources/TLLMEvaluation/Generators/ClassificationTasks.swift).\n",
                             to: dir.appendingPathComponent("README.md"))
    }

    static func genre(_ root: URL, _ plays: Corpus, _ split: [String: [Int]]) throws {
        var rng = RandomGenerator(seed: 21, stream: RandomGenerator.streamID("cls:genre"))
        var splits: [String: [[String: Any]]] = [:]
        for (s, idx) in split {
            let per = s == "train" ? 30 : 50
            var rows: [[String: Any]] = []
            for i in idx { for p in passages(plays.documents[i], count: per, chars: 500, rng: &rng) { rows.append(["text": p, "label": plays.documents[i].label!]) } }
            rng.shuffle(&rows)
            splits[s] = rows
        }
        try write(root, "shakespeare-genre", splits, readme: """
        A passage of consecutive speeches (about 500 characters) → the play's genre in plays.tsv (comedies,
        histories, problems, roman, romances, tragedies). Split by play: per genre the first play is test,
        the second validation, the others train, so test passages come from plays never seen in fine-tuning.
        Report the majority-class baseline beside accuracy (train majority: histories).
        """)
    }

    static func domain(_ root: URL, _ plays: Corpus, _ split: [String: [Int]], _ kjv: Corpus) throws {
        var rng = RandomGenerator(seed: 22, stream: RandomGenerator.streamID("cls:domain"))
        let heldBooks = kjv.validationIndices(fraction: 0.1)
        var books: [String: [Int]] = ["test": [], "validation": [], "train": []]
        for (k, b) in heldBooks.enumerated() { books[k % 2 == 0 ? "test" : "validation"]!.append(b) }
        books["train"] = kjv.documents.indices.filter { !heldBooks.contains($0) }
        var splits: [String: [[String: Any]]] = [:]
        for s in ["train", "validation", "test"] {
            let n = s == "train" ? 400 : 150
            var rows: [[String: Any]] = []
            let ps = split[s]!
            for k in 0..<n {
                let d = plays.documents[ps[k % ps.count]]
                if let p = passages(d, count: 1, chars: 300, rng: &rng).first { rows.append(["text": p, "label": "shakespeare"]) }
                let b = kjv.documents[books[s]![rng.nextInt(below: books[s]!.count)]]
                let v0 = rng.nextInt(below: max(1, b.segments.count - 4))
                var text = ""
                for v in v0..<min(b.segments.count, v0 + 4) {
                    // Drop the "Book C:V " reference: the verse text alone.
                    let line = String(decoding: b.text[b.segments[v]], as: UTF8.self)
                    let parts = line.split(separator: " ", maxSplits: 2)
                    let body = parts.count == 3 && parts[1].contains(":") ? String(parts[2]) : line
                    text += (text.isEmpty ? "" : "\n") + body
                    if text.count >= 300 { break }
                }
                rows.append(["text": text, "label": "bible"])
            }
            rng.shuffle(&rows)
            splits[s] = rows
        }
        try write(root, "domain", splits, readme: """
        Shakespeare passage vs Bible passage (about 300 characters; verse references removed). Plays split as
        in shakespeare-genre; Bible test/validation passages come from the books held out of pretraining
        (every tenth book), training passages from the others. Balanced classes.
        """)
    }

    static func sameScene(_ root: URL, _ plays: Corpus, _ split: [String: [Int]]) throws {
        var rng = RandomGenerator(seed: 23, stream: RandomGenerator.streamID("cls:scene"))
        var splits: [String: [[String: Any]]] = [:]
        for (s, idx) in split {
            let per = s == "train" ? 40 : 50
            var rows: [[String: Any]] = []
            for i in idx {
                let sp = speeches(plays.documents[i])
                let scenes = Dictionary(grouping: sp.indices, by: { sp[$0].scene }).filter { $0.value.count >= 4 }
                let keys = scenes.keys.sorted()
                guard keys.count >= 2 else { continue }
                for k in 0..<per {
                    let sc = keys[rng.nextInt(below: keys.count)]
                    let members = scenes[sc]!
                    let a = members[rng.nextInt(below: members.count)]
                    var b: Int
                    if k % 2 == 0 {
                        repeat { b = members[rng.nextInt(below: members.count)] } while b == a
                    } else {
                        var other: Int
                        repeat { other = keys[rng.nextInt(below: keys.count)] } while other == sc
                        let om = scenes[other]!
                        b = om[rng.nextInt(below: om.count)]
                    }
                    rows.append(["text": String(sp[a].text.prefix(400)), "text_b": String(sp[b].text.prefix(400)), "label": k % 2 == 0 ? "same" : "different"])
                }
            }
            rng.shuffle(&rows)
            splits[s] = rows
        }
        try write(root, "same-scene", splits, readme: """
        A sentence-pair task: two speeches of one play (text, text_b) → are they from the same scene? Half the
        pairs are from one scene, half from two different scenes of the same play. Split by play as in
        shakespeare-genre. Balanced classes.
        """)
    }
}
