import Foundation
import TLLMCore

/// An evaluation task: a JSON spec using lm-evaluation-harness's field names and JSONL documents.
///
/// Folder layout: `task.json`, and one `<split>.jsonl` per split (`test.jsonl`, `train.jsonl`, …).
/// Spec fields: `doc_to_text`, `doc_to_target`, `doc_to_choice` (a list, or a template naming a
/// list field), `target_delimiter` (" "), `fewshot_delimiter` ("\n\n"), `output_type`
/// (`multiple_choice` | `generate_until` | `loglikelihood` | `loglikelihood_rolling`),
/// `test_split` ("test"), `fewshot_split` ("train"), `until` (stop strings), `description`,
/// `max_gen_toks` (32). tllm extensions: `fewshot_field` (examples come from a list field of the
/// document itself: an episode's own demonstrations), `induction` (rolling loss of the two halves
/// of `doc_to_text` = `{{run}} {{run}}`), `ignore_case` (exact match).
public struct TaskSpec {
    public enum OutputType: String, CaseIterable { case multipleChoice = "multiple_choice", generateUntil = "generate_until",
                                                     loglikelihood, loglikelihoodRolling = "loglikelihood_rolling" }
    public var name: String
    public var outputType: OutputType
    public var docToText: String
    public var docToTarget: String?
    /// A fixed list of choice templates, or one template naming a list field.
    public var docToChoice: [String]?
    public var docToChoiceField: String?
    public var targetDelimiter = " "
    public var fewshotDelimiter = "\n\n"
    public var description = ""
    public var testSplit = "test"
    public var fewshotSplit: String? = "train"
    public var fewshotField: String?
    public var until: [String] = ["\n\n"]
    public var maxGenerationTokens = 32
    public var induction = false
    public var ignoreCase = false

    static let knownFields: Set<String> = ["task", "output_type", "doc_to_text", "doc_to_target", "doc_to_choice", "target_delimiter",
                                           "fewshot_delimiter", "description", "test_split", "fewshot_split", "fewshot_field", "until",
                                           "max_gen_toks", "induction", "ignore_case", "source", "chance", "metadata"]

    /// Parses `task.json`; every problem names the file (and the field).
    public static func parse(_ data: [UInt8], path: String, defaultName: String) throws -> TaskSpec {
        let json = try JSONParser.parse(data, path: path, rejectDuplicateKeys: true)
        guard let m = json.members else { throw TLLMError("a task spec is a JSON object", file: path, line: 1) }
        /// The line of `"key"` in the file (1 for the object itself): task specs are small, so a
        /// textual search finds where a field is written.
        func line(of key: String?) -> Int {
            guard let key else { return 1 }
            let needle = Array("\"\(key)\"".utf8)
            guard needle.count <= data.count else { return 1 }
            var newlines = 0
            for i in 0...(data.count - needle.count) {
                if data[i] == 0x0A { newlines += 1 }
                if data[i...].starts(with: needle) { return newlines + 1 }
            }
            return 1
        }
        func fail(_ s: String, _ key: String? = nil) -> TLLMError { TLLMError(s, file: path, line: line(of: key)) }
        for (k, _) in m where !knownFields.contains(k) { throw fail("unknown field \"\(k)\" (known: \(knownFields.sorted().joined(separator: ", ")))", k) }
        func str(_ k: String) throws -> String? {
            guard let v = json[k], !v.isNull else { return nil }
            guard let s = v.string else { throw fail("field \(k) must be a string", k) }
            return s
        }
        guard let ot = try str("output_type") else { throw fail("missing field output_type") }
        guard let type = OutputType(rawValue: ot) else {
            throw fail("output_type \"\(ot)\" is not one of \(OutputType.allCases.map(\.rawValue).joined(separator: ", "))", "output_type")
        }
        guard let text = try str("doc_to_text") else { throw fail("missing field doc_to_text") }
        var spec = TaskSpec(name: try str("task") ?? defaultName, outputType: type, docToText: text)
        spec.docToTarget = try str("doc_to_target")
        if let c = json["doc_to_choice"], !c.isNull {
            if let a = c.array {
                let items = a.compactMap(\.string)
                guard items.count == a.count else { throw fail("doc_to_choice must be a list of strings or a template", "doc_to_choice") }
                guard !items.isEmpty else { throw fail("doc_to_choice is an empty list", "doc_to_choice") }
                spec.docToChoice = items
            } else if let s = c.string {
                guard let f = Template.singleField(s) else { throw fail("doc_to_choice as a string must be one field reference like {{choices}}", "doc_to_choice") }
                spec.docToChoiceField = f
            } else { throw fail("doc_to_choice must be a list of strings or a template", "doc_to_choice") }
        }
        if let s = try str("target_delimiter") { spec.targetDelimiter = s }
        if let s = try str("fewshot_delimiter") { spec.fewshotDelimiter = s }
        if let s = try str("description") { spec.description = s }
        /// A split is a file beside task.json: a plain name, never a path.
        func splitName(_ k: String) throws -> String? {
            guard let s = try str(k) else { return nil }
            guard !s.isEmpty, s != ".", s != "..", s.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) else {
                throw fail("\(k) \(JSONValue.quote(s)) must be a plain name (letters, digits, _ - .) of a .jsonl file beside task.json", k)
            }
            return s
        }
        if let s = try splitName("test_split") { spec.testSplit = s }
        if let v = json["fewshot_split"] { spec.fewshotSplit = v.isNull ? nil : try splitName("fewshot_split") }
        spec.fewshotField = try str("fewshot_field")
        if let u = json["until"], !u.isNull {
            if let s = u.string { spec.until = [s] } else if let a = u.array, a.allSatisfy({ $0.string != nil }), !a.isEmpty { spec.until = a.map { $0.string! } } else {
                throw fail("until must be a string or a non-empty list of strings", "until")
            }
        }
        if let v = json["max_gen_toks"] {
            guard let n = v.int, n > 0 else { throw fail("max_gen_toks must be a positive integer", "max_gen_toks") }
            spec.maxGenerationTokens = n
        }
        spec.induction = json["induction"]?.bool ?? false
        spec.ignoreCase = json["ignore_case"]?.bool ?? false
        switch type {
        case .multipleChoice:
            guard spec.docToChoice != nil || spec.docToChoiceField != nil else { throw fail("multiple_choice needs doc_to_choice") }
            guard spec.docToTarget != nil else { throw fail("multiple_choice needs doc_to_target") }
        case .generateUntil, .loglikelihood:
            guard spec.docToTarget != nil else { throw fail("\(type.rawValue) needs doc_to_target") }
        case .loglikelihoodRolling: break
        }
        // Templates are checked here; the line of the field is looked up only when one is bad.
        func check(_ t: String, _ field: String) throws {
            do { try Template.validate(t, path: path, field: field) } catch var e as TLLMError { e.line = line(of: field); throw e }
        }
        try check(spec.docToText, "doc_to_text")
        if let t = spec.docToTarget { try check(t, "doc_to_target") }
        for c in spec.docToChoice ?? [] { try check(c, "doc_to_choice") }
        return spec
    }
}

/// One JSONL document.
public struct TaskDocument {
    /// Stable id: the `id` field if present, else the line number.
    public var id: Int
    public var fields: JSONValue
    public var file: String
    public var line: Int
}

/// `{{field}}` templates over document fields.
public enum Template {
    static func references(_ t: String) -> [(range: Range<String.Index>, field: String)]? {
        var out: [(Range<String.Index>, String)] = []
        var i = t.startIndex
        while let open = t.range(of: "{{", range: i..<t.endIndex) {
            guard let close = t.range(of: "}}", range: open.upperBound..<t.endIndex) else { return nil }
            let name = t[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            out.append((open.lowerBound..<close.upperBound, name))
            i = close.upperBound
        }
        return out
    }

    static func validate(_ t: String, path: String, field: String) throws {
        guard let refs = references(t) else { throw TLLMError("\(field): unclosed {{ in template \(JSONValue.quote(t))", file: path) }
        for r in refs where r.field.isEmpty || r.field.contains(where: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }) {
            throw TLLMError("\(field): bad field reference {{\(r.field)}} (only field names are supported)", file: path)
        }
    }

    /// The field name if `t` is exactly one reference.
    static func singleField(_ t: String) -> String? {
        guard let refs = references(t), refs.count == 1, refs[0].range == t.startIndex..<t.endIndex else { return nil }
        return refs[0].field
    }

    static func lookup(_ doc: JSONValue, _ field: String) -> JSONValue? {
        var v: JSONValue? = doc
        for part in field.split(separator: ".") {
            if let n = Int(part), let a = v?.array { v = n < a.count ? a[n] : nil } else { v = v?[String(part)] }
        }
        return v
    }

    static func scalarText(_ v: JSONValue) -> String? {
        switch v {
        case .string(let s): return s
        case .number: return v.description
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// Renders `t` for `doc`; a missing or non-scalar field is an error at the document's line.
    public static func render(_ t: String, _ doc: TaskDocument, template name: String) throws -> String {
        guard let refs = references(t) else { return t }
        var out = ""
        var i = t.startIndex
        for r in refs {
            out += t[i..<r.range.lowerBound]
            guard let v = lookup(doc.fields, r.field) else {
                throw TLLMError("\(name) names field '\(r.field)', which this document does not have", file: doc.file, line: doc.line)
            }
            guard let s = scalarText(v) else { throw TLLMError("\(name): field '\(r.field)' is not a string or number", file: doc.file, line: doc.line) }
            out += s
            i = r.range.upperBound
        }
        out += t[i...]
        return out
    }
}

/// A task with its documents loaded and checked.
public struct EvalTask {
    public var spec: TaskSpec
    public var directory: URL
    public var test: [TaskDocument]
    public var fewshot: [TaskDocument]

    /// Loads `dir/task.json` and the splits it names; every document is rendered once so that
    /// errors (missing fields, empty choices, a target out of range) surface now, with file and line.
    public static func load(_ dir: URL) throws -> EvalTask {
        let specPath = dir.appendingPathComponent("task.json").path
        guard let data = FileManager.default.contents(atPath: specPath) else {
            throw TLLMError("no task.json here (a task is a folder with task.json and JSONL splits)", file: dir.path)
        }
        let spec = try TaskSpec.parse([UInt8](data), path: specPath, defaultName: dir.lastPathComponent)
        let test = try readDocuments(dir.appendingPathComponent("\(spec.testSplit).jsonl"))
        guard !test.isEmpty else { throw TLLMError("no documents", file: dir.appendingPathComponent("\(spec.testSplit).jsonl").path) }
        var fewshot: [TaskDocument] = []
        if spec.fewshotField == nil, let fs = spec.fewshotSplit {
            let u = dir.appendingPathComponent("\(fs).jsonl")
            if FileManager.default.fileExists(atPath: u.path) {
                fewshot = try readDocuments(u)
            } else if fs != "train" {
                // The default "train" may be absent (zero-shot tasks); a split the spec names must exist.
                throw TLLMError("fewshot_split \(JSONValue.quote(fs)) names \(fs).jsonl, which is not in the task folder", file: specPath)
            }
        }
        let task = EvalTask(spec: spec, directory: dir, test: test, fewshot: fewshot)
        for d in test { _ = try task.render(d) }
        for d in fewshot { _ = try task.render(d) }
        return task
    }

    static func readDocuments(_ url: URL) throws -> [TaskDocument] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TLLMError("cannot read", file: url.path) }
        var docs: [TaskDocument] = []
        var ids = Set<Int>()
        let bytes = [UInt8](data)
        var start = 0, lineNo = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            lineNo += 1
            let line = Array(bytes[start..<end])
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            let v = try JSONParser.parse(line, path: url.path, lineOffset: lineNo - 1)
            guard v.members != nil else { throw TLLMError("each line must be a JSON object", file: url.path, line: lineNo) }
            let id = v["id"]?.int ?? lineNo
            guard ids.insert(id).inserted else { throw TLLMError("duplicate document id \(id)", file: url.path, line: lineNo) }
            docs.append(TaskDocument(id: id, fields: v, file: url.path, line: lineNo))
        }
        return docs
    }

    /// A document rendered: its text, target, and (multiple choice) choices and gold index.
    public struct Rendered {
        public var text: String
        public var target: String?
        public var choices: [String]
        public var gold: Int?
    }

    public func render(_ d: TaskDocument) throws -> Rendered {
        let s = spec
        let text = try Template.render(s.docToText, d, template: "doc_to_text")
        var choices: [String] = []
        if let list = s.docToChoice {
            choices = try list.map { try Template.render($0, d, template: "doc_to_choice") }
        } else if let f = s.docToChoiceField {
            guard let v = Template.lookup(d.fields, f) else {
                throw TLLMError("doc_to_choice names field '\(f)', which this document does not have", file: d.file, line: d.line)
            }
            guard let a = v.array else { throw TLLMError("doc_to_choice: field '\(f)' must be a list", file: d.file, line: d.line) }
            choices = try a.map { c in
                guard let t = Template.scalarText(c) else { throw TLLMError("doc_to_choice: '\(f)' holds a non-string", file: d.file, line: d.line) }
                return t
            }
        }
        if s.outputType == .multipleChoice && choices.isEmpty { throw TLLMError("the document has no choices", file: d.file, line: d.line) }
        var target: String? = nil, gold: Int? = nil
        if let t = s.docToTarget {
            let r = try Template.render(t, d, template: "doc_to_target")
            if s.outputType == .multipleChoice {
                if let n = Int(r.trimmingCharacters(in: .whitespaces)), !choices.contains(r) {
                    guard n >= 0 && n < choices.count else {
                        throw TLLMError("target index \(n) is out of range for \(choices.count) choices", file: d.file, line: d.line)
                    }
                    gold = n
                } else {
                    guard let k = choices.firstIndex(of: r) else {
                        throw TLLMError("target \(JSONValue.quote(r)) is not one of the choices", file: d.file, line: d.line)
                    }
                    gold = k
                }
                target = choices[gold!]
            } else {
                target = r
            }
        }
        if s.outputType == .loglikelihoodRolling && text.isEmpty { throw TLLMError("empty text", file: d.file, line: d.line) }
        return Rendered(text: text, target: target, choices: choices, gold: gold)
    }

    /// The chance baseline of the task's main metric (acc: mean 1/choices; others 0).
    public func chance() -> Double? {
        guard spec.outputType == .multipleChoice else { return nil }
        let counts = test.compactMap { try? render($0).choices.count }
        return counts.map { 1 / Double($0) }.reduce(0, +) / Double(max(1, counts.count))
    }

    /// Few-shot examples of a document (as pseudo-documents), for the `fewshot_field` extension.
    func episodeExamples(_ d: TaskDocument) throws -> [TaskDocument] {
        guard let f = spec.fewshotField else { return fewshot }
        guard let a = Template.lookup(d.fields, f)?.array else {
            throw TLLMError("fewshot_field '\(f)' is missing or not a list", file: d.file, line: d.line)
        }
        return a.enumerated().map { TaskDocument(id: $0.offset, fields: $0.element, file: d.file, line: d.line) }
    }
}
