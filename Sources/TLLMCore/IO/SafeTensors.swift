import Foundation

/// The safetensors format (HuggingFace): an 8-byte little-endian header length, a JSON header
/// mapping each tensor name to `{dtype, shape, data_offsets}` (plus optional `__metadata__`
/// strings), then the raw little-endian data. PyTorch, JAX and others read it directly.
public enum SafeTensors {
    /// One named tensor to write.
    public struct Entry {
        public var name: String
        public var shape: [Int]
        public var values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name; self.shape = shape; self.values = values
        }
    }

    /// Encodes float32 tensors (sorted by name, as the reference implementation does).
    public static func encode(_ entries: [Entry], metadata: [String: String] = [:]) -> Data {
        let sorted = entries.sorted { $0.name < $1.name }
        var header: [String: Any] = [:]
        var offset = 0
        for e in sorted {
            let bytes = e.values.count * 4
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so that data starts 8-byte aligned.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for e in sorted { out.append(UnsafeBufferPointer(start: e.values.baseAddress, count: e.values.count)) }
        return out
    }

    /// Encodes and writes atomically.
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(encode(entries, metadata: metadata), to: url)
    }

    /// A parsed file: tensors by name (float32 values), plus metadata.
    public struct File {
        public var tensors: [String: (shape: [Int], values: [Float])]
        public var metadata: [String: String]
        public var names: [String] { tensors.keys.sorted() }
    }

    /// Reads and validates a safetensors file. Every failure names the file and the byte offset
    /// or tensor concerned.
    public static func read(_ url: URL) throws -> File {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLLMError("cannot read file", file: path)
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> File {
        guard data.count >= 8 else {
            throw TLLMError("truncated safetensors file: \(data.count) bytes, need at least 8 for the header length",
                            file: path, byteOffset: 0)
        }
        let headerLen = data.withUnsafeBytes { raw -> UInt64 in
            UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        }
        guard headerLen <= UInt64(data.count - 8) else {
            throw TLLMError("header length \(headerLen) runs past the end of the file (\(data.count) bytes): truncated or not safetensors",
                            file: path, byteOffset: 0)
        }
        let hEnd = 8 + Int(headerLen)
        let headerData = data.subdata(in: 8..<hEnd)
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw TLLMError("header is not valid JSON", file: path, byteOffset: 8)
        }
        guard let header = obj as? [String: Any] else {
            throw TLLMError("header is not a JSON object", file: path, byteOffset: 8)
        }
        let dataLen = data.count - hEnd
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if let m = value as? [String: String] { metadata = m }
                continue
            }
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String,
                  let shape = (d["shape"] as? [NSNumber])?.map(\.intValue),
                  let offs = (d["data_offsets"] as? [NSNumber])?.map(\.intValue), offs.count == 2 else {
                throw TLLMError("tensor '\(name)': malformed entry (needs dtype, shape, data_offsets)", file: path, byteOffset: 8)
            }
            guard dtype == "F32" else {
                throw TLLMError("tensor '\(name)': dtype \(dtype) is not supported (tllm reads F32)", file: path, byteOffset: 8)
            }
            let n = shape.reduce(1, *)
            guard shape.allSatisfy({ $0 >= 0 }), offs[0] >= 0, offs[1] >= offs[0], offs[1] - offs[0] == n * 4 else {
                throw TLLMError("tensor '\(name)': data_offsets \(offs) do not match shape \(shape)", file: path, byteOffset: 8)
            }
            guard offs[1] <= dataLen else {
                throw TLLMError("tensor '\(name)': data ends at byte \(hEnd + offs[1]) but the file has \(data.count) bytes (truncated)",
                                file: path, byteOffset: hEnd + offs[0])
            }
            var values = [Float](repeating: 0, count: n)
            values.withUnsafeMutableBytes { dst in
                data.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(hEnd + offs[0])..<(hEnd + offs[1])]))
                }
            }
            tensors[name] = (shape, values)
        }
        return File(tensors: tensors, metadata: metadata)
    }
}
