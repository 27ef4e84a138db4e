import Foundation
import TLLMCore

/// Reading text inputs with errors that say where they are bad.
public enum TextFiles {
    /// The bytes of a file.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw TLLMError("no such file", file: path) }
        guard !isDir.boolValue else { throw TLLMError("is a directory, expected a file", file: path) }
        guard let d = FileManager.default.contents(atPath: path) else { throw TLLMError("cannot read", file: path) }
        return [UInt8](d)
    }

    /// The first invalid UTF-8 position in `bytes`, as (line, byte offset), or nil if valid.
    public static func firstInvalidUTF8(_ bytes: [UInt8]) -> (line: Int, offset: Int)? {
        var line = 1
        var i = 0
        let n = bytes.count
        let cc = CharClassifier.shared
        return bytes.withUnsafeBufferPointer { b -> (Int, Int)? in
            guard let p = b.baseAddress else { return nil }
            while i < n {
                if p[i] < 0x80 {
                    if p[i] == 0x0A { line += 1 }
                    i += 1
                    continue
                }
                let c = cc.decode(p, i, n)
                if c.len == 1 { return (line, i) }
                i += c.len
            }
            return nil
        }
    }

    /// A file that must be valid UTF-8 text (corpora): invalid bytes are an error naming the line
    /// and byte offset.
    public static func readUTF8(_ path: String) throws -> [UInt8] {
        let b = try readBytes(path)
        if let bad = firstInvalidUTF8(b) {
            throw TLLMError("invalid UTF-8 at byte \(bad.offset) (0x\(String(b[bad.offset], radix: 16)))", file: path, line: bad.line)
        }
        return b
    }

    /// Expands directories into their `.txt` files (sorted); files pass through.
    public static func expand(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw TLLMError("no such file or directory", file: p) }
            if isDir.boolValue {
                let items = try FileManager.default.contentsOfDirectory(atPath: p).filter { $0.hasSuffix(".txt") }.sorted()
                guard !items.isEmpty else { throw TLLMError("directory has no .txt files", file: p) }
                out += items.map { (p as NSString).appendingPathComponent($0) }
            } else {
                out.append(p)
            }
        }
        return out
    }
}
