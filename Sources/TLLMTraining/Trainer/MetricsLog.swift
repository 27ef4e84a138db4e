import Foundation
import TLLMCore

/// `metrics.csv`: one row per logged step. On resume the file is rewritten atomically with the
/// rows up to the resumed step, so that it always describes one consistent run.
public final class MetricsLog {
    public let url: URL
    public let columns: [String]
    var handle: FileHandle?

    public init(url: URL, columns: [String], resumeAt step: Int?) throws {
        self.url = url
        self.columns = columns
        let header = columns.joined(separator: ",")
        var keep = [header]
        if let step, let text = try? String(contentsOf: url, encoding: .utf8) {
            for line in text.split(separator: "\n").dropFirst() {
                if let s = Int(line.split(separator: ",", maxSplits: 1).first ?? ""), s <= step { keep.append(String(line)) }
            }
        }
        try AtomicFile.write(keep.joined(separator: "\n") + "\n", to: url)
        handle = try FileHandle(forWritingTo: url)
        handle?.seekToEndOfFile()
    }

    /// Appends a row; missing values are empty cells.
    public func append(_ values: [String: Double]) {
        let cells = columns.map { c -> String in
            guard let v = values[c], v.isFinite else { return "" }
            if c == "step" || c == "tokens" { return String(Int(v)) }
            return String(format: "%.6g", v)
        }
        handle?.write(Data((cells.joined(separator: ",") + "\n").utf8))
    }

    public func close() { try? handle?.close(); handle = nil }
}
