import Foundation
import TLLMCore

/// A metadata value of a GGUF file.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The value as an integer (any integer type that fits).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
}

/// One tensor's entry in a GGUF file: name, dimensions (`dims[0]` varies fastest: a matrix is
/// `[in, out]`, stored a row of `in` weights per output), type, where its data is.
public struct GGUFTensorInfo: Sendable {
    public var name: String
    public var dims: [Int]
    public var type: QuantType
    /// Offset from the start of the data section.
    public var offset: Int
    public var elementCount: Int { dims.reduce(1, *) }
    public var byteCount: Int { type.rowBytes(dims[0]) * (elementCount / max(1, dims[0])) }
}

/// A GGUF file (version 2 or 3) mapped into memory: metadata of every value type, tensor infos,
/// and the tensor data in place. Every malformed or truncated part is an error naming the file and
/// the field or tensor.
public final class GGUFFile {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let keys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Where tensor data starts (aligned).
    public let dataOffset: Int
    let file: MappedFile

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = GGUFReader(file: file)
        guard try r.u32("magic") == 0x4655_4747 else { throw TLLMError("not a GGUF file (bad magic)", file: path) }
        version = Int(try r.u32("version"))
        guard version == 2 || version == 3 else { throw TLLMError("GGUF version \(version) is not supported (2 or 3)", file: path) }
        let tensorCount = try r.count("tensor_count", each: 24)
        let kvCount = try r.count("metadata_kv_count", each: 12)
        var meta: [String: GGUFValue] = [:], order: [String] = []
        for _ in 0..<kvCount {
            let key = try r.string("metadata key")
            guard meta[key] == nil else { throw TLLMError("metadata key \(key) appears twice", file: path) }
            meta[key] = try r.value(type: try r.u32("type of \(key)"), field: key)
            order.append(key)
        }
        metadata = meta; keys = order
        alignment = meta["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw TLLMError("general.alignment \(alignment) is not a power of two", file: path) }
        tensors = try (0..<tensorCount).map { _ in try r.tensorInfo() }
        dataOffset = (r.position + alignment - 1) / alignment * alignment
        try validateTensors()
    }

    func validateTensors() throws {
        var seen = Set<String>()
        for t in tensors {
            guard seen.insert(t.name).inserted else { throw TLLMError("tensor \(t.name) appears twice", file: path) }
            guard t.offset % alignment == 0 else { throw TLLMError("tensor \(t.name): data offset \(t.offset) is not aligned to \(alignment)", file: path) }
            guard t.dims[0] % t.type.blockSize == 0 else {
                throw TLLMError("tensor \(t.name): \(t.dims[0]) weights per row are not whole \(t.type) blocks", file: path)
            }
            let end = dataOffset + t.offset + t.byteCount
            guard end <= file.count else {
                throw TLLMError("tensor \(t.name): data runs to byte \(end) but the file has \(file.count) (truncated)", file: path)
            }
        }
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensors.first { $0.name == name } }

    /// The tensor's bytes in place.
    public func data(_ t: GGUFTensorInfo) -> UnsafeRawPointer { file.bytes + dataOffset + t.offset }

    /// A matrix `[dims[1], dims[0]]` over the mapped data (no copy).
    public func matrix(_ name: String) throws -> QuantizedMatrix {
        guard let t = tensor(name) else { throw TLLMError("tensor \(name) is missing", file: path) }
        guard t.dims.count <= 2 else { throw TLLMError("tensor \(name) has \(t.dims.count) dimensions; a matrix has 2", file: path) }
        return QuantizedMatrix(rows: t.dims.count == 2 ? t.dims[1] : 1, cols: t.dims[0], type: t.type, data: data(t), owner: file)
    }

    /// A tensor decoded to floats (norm gains, biases, position tables), with its shape outermost first.
    public func floats(_ name: String) throws -> Tensor {
        let m = try matrix(name)
        let out = Tensor(uninitialized: m.rows == 1 ? [m.cols] : [m.rows, m.cols])
        for r in 0..<m.rows { m.decodeRow(r, into: out.data + r * m.cols) }
        return out
    }

    // MARK: Typed metadata

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw TLLMError("metadata \(key) is missing", file: path) }
        guard let s = v.string else { throw TLLMError("metadata \(key) is not a string", file: path) }
        return s
    }

    public func int(_ key: String, default d: Int? = nil) throws -> Int {
        guard let v = metadata[key] else {
            if let d { return d }
            throw TLLMError("metadata \(key) is missing", file: path)
        }
        guard let i = v.int else { throw TLLMError("metadata \(key) is not an integer", file: path) }
        return i
    }

    public func double(_ key: String, default d: Double? = nil) throws -> Double {
        guard let v = metadata[key] else {
            if let d { return d }
            throw TLLMError("metadata \(key) is missing", file: path)
        }
        guard let x = v.double, x.isFinite else { throw TLLMError("metadata \(key) is not a finite number", file: path) }
        return x
    }

    public func strings(_ key: String) throws -> [String] {
        guard let a = metadata[key]?.array else { throw TLLMError("metadata \(key) is missing or not an array", file: path) }
        return try a.enumerated().map { i, v in
            guard let s = v.string else { throw TLLMError("metadata \(key)[\(i)] is not a string", file: path) }
            return s
        }
    }
}

/// A bounds-checked little-endian cursor over the header.
struct GGUFReader {
    let file: MappedFile
    var position = 0

    init(file: MappedFile) { self.file = file }

    func fail(_ what: String) -> TLLMError {
        TLLMError("truncated or malformed header: \(what) at byte \(position) runs past the end (\(file.count) bytes)", file: file.path)
    }

    mutating func bytes(_ n: Int, _ what: String) throws -> UnsafeRawPointer {
        guard n >= 0, position <= file.count - n else { throw fail(what) }
        defer { position += n }
        return file.bytes + position
    }

    mutating func u32(_ what: String) throws -> UInt32 { try bytes(4, what).loadUnaligned(as: UInt32.self) }
    mutating func u64(_ what: String) throws -> UInt64 { try bytes(8, what).loadUnaligned(as: UInt64.self) }

    /// A count of items of at least `each` bytes: it must fit in what is left of the file.
    mutating func count(_ what: String, each: Int) throws -> Int {
        let n = try u64(what)
        guard n <= UInt64((file.count - position) / max(1, each)) else {
            throw TLLMError("\(what) = \(n) cannot fit in the \(file.count - position) bytes that remain", file: file.path)
        }
        return Int(n)
    }

    mutating func string(_ what: String) throws -> String {
        let n = try count("length of \(what)", each: 1)
        let p = try bytes(n, what)
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }

    mutating func value(type: UInt32, field: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try bytes(1, field).load(as: UInt8.self))
        case 1: return .int8(try bytes(1, field).load(as: Int8.self))
        case 2: return .uint16(try bytes(2, field).loadUnaligned(as: UInt16.self))
        case 3: return .int16(try bytes(2, field).loadUnaligned(as: Int16.self))
        case 4: return .uint32(try u32(field))
        case 5: return .int32(try bytes(4, field).loadUnaligned(as: Int32.self))
        case 6: return .float32(try bytes(4, field).loadUnaligned(as: Float.self))
        case 7:
            let b = try bytes(1, field).load(as: UInt8.self)
            guard b <= 1 else { throw TLLMError("metadata \(field): a bool must be 0 or 1, got \(b)", file: file.path) }
            return .bool(b == 1)
        case 8: return .string(try string(field))
        case 9:
            guard depth == 0 else { throw TLLMError("metadata \(field): nested arrays are not supported", file: file.path) }
            let elementType = try u32("element type of \(field)")
            let n = try count("length of \(field)", each: 1)
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(type: elementType, field: field, depth: 1)) }
            return .array(out)
        case 10: return .uint64(try u64(field))
        case 11: return .int64(try bytes(8, field).loadUnaligned(as: Int64.self))
        case 12: return .float64(try bytes(8, field).loadUnaligned(as: Double.self))
        default: throw TLLMError("metadata \(field): unknown value type \(type)", file: file.path)
        }
    }

    mutating func tensorInfo() throws -> GGUFTensorInfo {
        let name = try string("tensor name")
        let nd = Int(try u32("dimension count of \(name)"))
        guard (1...4).contains(nd) else { throw TLLMError("tensor \(name): \(nd) dimensions (1 to 4 supported)", file: file.path) }
        var dims: [Int] = []
        var total: UInt64 = 1
        for i in 0..<nd {
            let d = try u64("dimension \(i) of \(name)")
            guard d > 0, d < 1 << 40 else { throw TLLMError("tensor \(name): dimension \(i) is \(d)", file: file.path) }
            total = total.multipliedReportingOverflow(by: d).partialValue
            guard total < 1 << 40 else { throw TLLMError("tensor \(name): \(dims + [Int(d)]) has too many elements", file: file.path) }
            dims.append(Int(d))
        }
        let raw = try u32("type of \(name)")
        guard let type = QuantType(rawValue: raw) else {
            throw TLLMError("tensor \(name): GGML type \(raw) is not supported (f32, f16, bf16, q8_0, q4_0, q4_1)", file: file.path)
        }
        let offset = try u64("data offset of \(name)")
        guard offset < UInt64(file.count) else { throw TLLMError("tensor \(name): data offset \(offset) is past the end of the file", file: file.path) }
        return GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(offset))
    }
}
