import Foundation
import TLLMCore
import TLLMTokenizer

/// A text-classification task: `train.jsonl`, `validation.jsonl`, `test.jsonl`, each line
/// `{"text": …, "text_b": … (optional), "label": …}`. Labels are the ones seen in training; a test
/// or validation label outside them, a missing label or an empty text is an error with file and line.
public struct ClassificationTask {
    public struct Example {
        public var text: String
        public var textB: String?
        public var label: Int
        public init(text: String, textB: String? = nil, label: Int) { self.text = text; self.textB = textB; self.label = label }
    }
    public var name: String
    public var labels: [String]
    public var train: [Example]
    public var validation: [Example]
    public var test: [Example]

    public static func load(_ dir: URL) throws -> ClassificationTask {
        let trainURL = dir.appendingPathComponent("train.jsonl")
        guard FileManager.default.fileExists(atPath: trainURL.path) else {
            throw TLLMError("no train.jsonl here (a classification task has train/validation/test.jsonl)", file: dir.path)
        }
        let rawTrain = try read(trainURL)
        var labels: [String] = []
        for e in rawTrain where !labels.contains(e.label) { labels.append(e.label) }
        labels.sort()
        guard labels.count >= 2 else { throw TLLMError("training labels: need at least two classes, found \(labels)", file: trainURL.path) }
        func index(_ rows: [(text: String, textB: String?, label: String, line: Int)], _ url: URL) throws -> [Example] {
            try rows.map { r in
                guard let k = labels.firstIndex(of: r.label) else {
                    throw TLLMError("unknown label \(JSONValue.quote(r.label)) (training labels: \(labels.joined(separator: ", ")))", file: url.path, line: r.line)
                }
                return Example(text: r.text, textB: r.textB, label: k)
            }
        }
        let valURL = dir.appendingPathComponent("validation.jsonl"), testURL = dir.appendingPathComponent("test.jsonl")
        return ClassificationTask(name: dir.lastPathComponent, labels: labels, train: try index(rawTrain, trainURL),
                                  validation: try index(try read(valURL), valURL), test: try index(try read(testURL), testURL))
    }

    static func read(_ url: URL) throws -> [(text: String, textB: String?, label: String, line: Int)] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TLLMError("cannot read", file: url.path) }
        var out: [(String, String?, String, Int)] = []
        for (k, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let v = try JSONParser.parse(String(line), path: url.path, lineOffset: k)
            guard v.members != nil else { throw TLLMError("each line must be a JSON object", file: url.path, line: k + 1) }
            guard let text = v["text"]?.string else { throw TLLMError("missing \"text\"", file: url.path, line: k + 1) }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw TLLMError("empty text", file: url.path, line: k + 1) }
            guard let lv = v["label"], !lv.isNull else { throw TLLMError("missing \"label\"", file: url.path, line: k + 1) }
            guard let label = lv.string ?? (lv.int.map(String.init)) else { throw TLLMError("\"label\" must be a string or an integer", file: url.path, line: k + 1) }
            let b = v["text_b"]?.string
            if let b, b.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw TLLMError("empty text_b", file: url.path, line: k + 1) }
            out.append((text, b, label, k + 1))
        }
        guard !out.isEmpty else { throw TLLMError("no examples", file: url.path) }
        return out
    }

    /// The accuracy of always predicting the most frequent training label, on the test split.
    public var majorityBaseline: Double {
        var counts = [Int](repeating: 0, count: labels.count)
        for e in train { counts[e.label] += 1 }
        let major = counts.indices.max { counts[$0] < counts[$1] }!
        return Double(test.filter { $0.label == major }.count) / Double(max(1, test.count))
    }
}
