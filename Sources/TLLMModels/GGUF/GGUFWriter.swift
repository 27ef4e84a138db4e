import Foundation
import TLLMCore

/// Writes GGUF v3 files: metadata, tensor infos, then each tensor's data aligned to 32 bytes.
public struct GGUFWriter {
    var metadata: [(String, GGUFValue)] = []
    var tensors: [(info: GGUFTensorInfo, bytes: Data)] = []
    public let alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        metadata.removeAll { $0.0 == key }
        metadata.append((key, value))
    }

    /// Adds a tensor of `rows × cols` floats stored as `type` (`dims` = `[cols, rows]`, or `[cols]` for a vector).
    public mutating func add(_ name: String, _ values: UnsafePointer<Float>, rows: Int, cols: Int, type: QuantType) {
        var bytes = Data(count: rows * type.rowBytes(cols))
        bytes.withUnsafeMutableBytes { p in
            for r in 0..<rows { BlockCodec.encodeRow(values + r * cols, count: cols, type: type, into: p.baseAddress! + r * type.rowBytes(cols)) }
        }
        let offset = tensors.last.map { ($0.info.offset + $0.bytes.count + alignment - 1) / alignment * alignment } ?? 0
        tensors.append((GGUFTensorInfo(name: name, dims: rows == 1 ? [cols] : [cols, rows], type: type, offset: offset), bytes))
    }

    /// The whole file.
    public func encode() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func value(_ v: GGUFValue, typed: Bool) {
            func t(_ code: UInt32) { if typed { u32(code) } }
            switch v {
            case .uint8(let x): t(0); out.append(x)
            case .int8(let x): t(1); out.append(UInt8(bitPattern: x))
            case .uint16(let x): t(2); withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .int16(let x): t(3); withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .uint32(let x): t(4); u32(x)
            case .int32(let x): t(5); u32(UInt32(bitPattern: x))
            case .float32(let x): t(6); u32(x.bitPattern)
            case .bool(let x): t(7); out.append(x ? 1 : 0)
            case .string(let s): t(8); string(s)
            case .array(let a):
                t(9)
                u32(a.first.map(Self.typeCode) ?? 4)
                u64(UInt64(a.count))
                for e in a { value(e, typed: false) }
            case .uint64(let x): t(10); u64(x)
            case .int64(let x): t(11); u64(UInt64(bitPattern: x))
            case .float64(let x): t(12); u64(x.bitPattern)
            }
        }
        u32(0x4655_4747); u32(3)
        u64(UInt64(tensors.count)); u64(UInt64(metadata.count + 1))
        string("general.alignment"); value(.uint32(UInt32(alignment)), typed: true)
        for (k, v) in metadata { string(k); value(v, typed: true) }
        for t in tensors {
            string(t.info.name)
            u32(UInt32(t.info.dims.count))
            for d in t.info.dims { u64(UInt64(d)) }
            u32(t.info.type.rawValue)
            u64(UInt64(t.info.offset))
        }
        let pad = (alignment - out.count % alignment) % alignment
        out.append(Data(count: pad))
        let start = out.count
        for t in tensors {
            out.append(Data(count: start + t.info.offset - out.count))
            out.append(t.bytes)
        }
        return out
    }

    static func typeCode(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// Writes the file atomically.
    public func write(to url: URL) throws { try AtomicFile.write(encode(), to: url) }
}
