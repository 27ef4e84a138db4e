import Foundation
import TLLMCore
import TLLMTokenizer

/// A training corpus: documents (plays, books, files) with optional segment structure.
///
/// Structure comes from the corpus layout, so that whole documents can be held out and sentence
/// pairs (BERT's NSP) can be drawn from real units:
/// - a directory with `plays.tsv` (the bundled Shakespeare): one document per play, in the
///   table's order, with its genre; segments are speeches (blank-line-separated blocks);
/// - a verse-per-line file (`Book C:V text`, the bundled KJV): one document per book; segments
///   are verses (the reference prefix is kept in the text);
/// - any other directory: one document per `.txt` file; segments are paragraphs;
/// - any other file: one document; segments are paragraphs.
public struct Corpus {
    public struct Document {
        public var name: String
        public var text: [UInt8]
        /// Optional label (a play's genre).
        public var label: String?
        /// Byte ranges of the document's segments (speeches, verses, paragraphs).
        public var segments: [Range<Int>]
    }

    public var name: String
    public var documents: [Document]
    /// A stable description of where the text came from (for caches and logs).
    public var source: String

    /// A corpus spec that means the same from any working directory: bundled names as they are,
    /// paths made absolute.
    public static func canonicalSpec(_ spec: String) -> String {
        if ["shakespeare", "kjv", "all", "synthetic:icl"].contains(spec) { return spec }
        return URL(fileURLWithPath: spec).standardizedFileURL.path
    }

    /// Resolves `--corpus`: nothing or `shakespeare` (the bundled plays), `kjv`, `all` (both),
    /// `synthetic:icl` (generated in-context-learning episodes, see ``SyntheticICL``), a file or a
    /// directory.
    public static func load(_ spec: String?) throws -> Corpus {
        let s = spec ?? "shakespeare"
        switch s {
        case "synthetic:icl":
            return SyntheticICL.corpus()
        case "all":
            let a = try load("shakespeare"), b = try load("kjv")
            return Corpus(name: "shakespeare+kjv", documents: a.documents + b.documents, source: a.source + "+" + b.source)
        case "shakespeare":
            guard let dir = ResourceLocator.find("corpora/shakespeare") else {
                throw TLLMError("bundled corpora/shakespeare not found (set TLLM_HOME to the tllm checkout)")
            }
            return try load(path: dir.path)
        case "kjv":
            guard let f = ResourceLocator.find("corpora/kjv.txt") else { throw TLLMError("bundled corpora/kjv.txt not found") }
            return try load(path: f.path)
        default:
            return try load(path: s)
        }
    }

    /// Reads a corpus file or directory (UTF-8 text; invalid bytes are an error with the line).
    public static func load(path: String) throws -> Corpus {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TLLMError("no such corpus file or directory", file: path)
        }
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        if isDir.boolValue {
            let tsv = (path as NSString).appendingPathComponent("plays.tsv")
            if FileManager.default.fileExists(atPath: tsv) { return try loadPlays(directory: path, table: tsv, name: name) }
            let files = try TextFiles.expand([path])
            let docs = try files.map { f -> Document in
                let text = try TextFiles.readUTF8(f)
                return Document(name: URL(fileURLWithPath: f).lastPathComponent, text: text, label: nil,
                                segments: paragraphs(text))
            }
            return Corpus(name: name, documents: docs, source: path)
        }
        let text = try TextFiles.readUTF8(path)
        if let books = verseBooks(text) { return Corpus(name: name, documents: books, source: path) }
        guard !text.isEmpty else { throw TLLMError("corpus is empty", file: path) }
        return Corpus(name: name, documents: [Document(name: name, text: text, label: nil, segments: paragraphs(text))], source: path)
    }

    static func loadPlays(directory: String, table: String, name: String) throws -> Corpus {
        let rows = try String(contentsOfFile: table, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        var docs: [Document] = []
        for (k, r) in rows.enumerated() where k > 0 {
            guard r.count >= 3 else { throw TLLMError("expected file, genre, title", file: table, line: k + 1) }
            let text = try TextFiles.readUTF8((directory as NSString).appendingPathComponent(r[0]))
            docs.append(Document(name: r[2], text: text, label: r[1], segments: paragraphs(text)))
        }
        guard !docs.isEmpty else { throw TLLMError("no plays listed", file: table) }
        return Corpus(name: name, documents: docs, source: directory)
    }

    /// Blank-line-separated blocks (speeches in the plays).
    static func paragraphs(_ t: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0, i = 0
        let n = t.count
        while i < n {
            if t[i] == 0x0A && i + 1 < n && t[i + 1] == 0x0A {
                if i > start { out.append(start..<i) }
                while i < n && t[i] == 0x0A { i += 1 }
                start = i
                continue
            }
            i += 1
        }
        if start < n { out.append(start..<n) }
        return out
    }

    /// Splits a `Book C:V text` file into books with one segment per verse, or nil if the file is
    /// not in that form.
    static func verseBooks(_ t: [UInt8]) -> [Document]? {
        var lines: [Range<Int>] = []
        var start = 0
        for i in 0..<t.count where t[i] == 0x0A {
            if i > start { lines.append(start..<i) }
            start = i + 1
        }
        if start < t.count { lines.append(start..<t.count) }
        guard lines.count >= 20 else { return nil }
        func book(_ r: Range<Int>) -> String? {
            // "Book C:V " with Book possibly "1 Kings" / "Song of Solomon".
            let s = String(decoding: t[r].prefix(64), as: UTF8.self)
            guard let colon = s.firstIndex(of: ":") else { return nil }
            let before = s[..<colon]
            guard let sp = before.lastIndex(of: " "), Int(before[before.index(after: sp)...]) != nil else { return nil }
            let after = s[s.index(after: colon)...]
            guard let sp2 = after.firstIndex(of: " "), Int(after[..<sp2]) != nil else { return nil }
            return String(before[..<sp])
        }
        for r in lines.prefix(20) where book(r) == nil { return nil }
        var docs: [Document] = []
        var current: String? = nil
        var text: [UInt8] = [], segs: [Range<Int>] = []
        for r in lines {
            guard let b = book(r) else { return nil }
            if b != current {
                if let c = current { docs.append(Document(name: c, text: text, label: nil, segments: segs)) }
                current = b; text = []; segs = []
            }
            let s = text.count
            text.append(contentsOf: t[r])
            segs.append(s..<text.count)
            text.append(0x0A)
        }
        if let c = current { docs.append(Document(name: c, text: text, label: nil, segments: segs)) }
        return docs
    }

    /// Documents held out for validation: every k-th (k = round(1/fraction)), from k−1 (none when
    /// there are fewer than k documents: then the tail of the stream is held out).
    public func validationIndices(fraction: Double) -> [Int] {
        guard fraction > 0 else { return [] }
        let k = max(2, Int((1 / fraction).rounded()))
        guard documents.count >= k else { return [] }
        return documents.indices.filter { $0 % k == k - 1 }
    }

    /// A hash of the corpus text (FNV-1a over 8-byte words), for token caches.
    public var contentHash: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for d in documents {
            d.text.withUnsafeBytes { raw in
                var i = 0
                while i + 8 <= raw.count {
                    h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x0000_0100_0000_01B3
                    i += 8
                }
                while i < raw.count { h = (h ^ UInt64(raw[i])) &* 0x0000_0100_0000_01B3; i += 1 }
            }
            h = (h ^ UInt64(d.text.count)) &* 0x0000_0100_0000_01B3
        }
        return h
    }
}
