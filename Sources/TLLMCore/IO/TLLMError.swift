import Foundation

/// An error a user can act on: what is wrong, and where (file, line or byte offset).
///
/// `description` is one line in the CLI's format: `path:line: message` or `path: byte N: message`.
public struct TLLMError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var file: String?
    public var line: Int?
    public var byteOffset: Int?

    public init(_ message: String, file: String? = nil, line: Int? = nil, byteOffset: Int? = nil) {
        self.message = message
        self.file = file
        self.line = line
        self.byteOffset = byteOffset
    }

    public var description: String {
        var where_ = ""
        if let file { where_ = file }
        if let line { where_ += where_.isEmpty ? "line \(line)" : ":\(line)" }
        if let byteOffset { where_ += where_.isEmpty ? "byte \(byteOffset)" : ": byte \(byteOffset)" }
        return where_.isEmpty ? message : "\(where_): \(message)"
    }
}

/// Writing files so that a crash or Ctrl-C never leaves a half-written one.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, flushes it, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Unique across processes and machines sharing the folder (PIDs repeat across containers).
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw TLLMError("cannot create: \(String(cString: strerror(errno)))", file: tmp.path) }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { ok = false; break }
                off += n
            }
        }
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        guard ok else {
            unlink(tmp.path)
            throw TLLMError("write failed: \(String(cString: strerror(errno)))", file: url.path)
        }
        guard rename(tmp.path, url.path) == 0 else {
            unlink(tmp.path)
            throw TLLMError("cannot rename into place: \(String(cString: strerror(errno)))", file: url.path)
        }
    }

    /// Writes a UTF-8 string atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}
