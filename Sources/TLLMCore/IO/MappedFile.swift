import Foundation

/// A whole file mapped read-only into memory (pages are read on first touch and shared with the
/// page cache). Unmapped when the last reference goes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawPointer
    public let count: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TLLMError("cannot open (\(String(cString: strerror(errno))))", file: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TLLMError("cannot stat", file: path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw TLLMError("not a regular file", file: path) }
        count = Int(st.st_size)
        guard count > 0 else { throw TLLMError("the file is empty", file: path) }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TLLMError("cannot map into memory (\(String(cString: strerror(errno))))", file: path)
        }
        bytes = UnsafeRawPointer(p)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes), count) }
}
