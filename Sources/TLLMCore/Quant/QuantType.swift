import Foundation

/// A tensor element type as GGUF/GGML numbers them: plain floats and the block-quantized types
/// tllm reads and writes (32 weights per block along a row).
public enum QuantType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, bf16 = 30

    /// Weights per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        }
    }

    /// Bytes of a row of `count` weights (`count` must be a multiple of the block size).
    public func rowBytes(_ count: Int) -> Int { count / blockSize * blockBytes }

    /// The name GGML and `--to` use.
    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .q4_0: return "q4_0"
        case .q4_1: return "q4_1"
        case .q8_0: return "q8_0"
        case .bf16: return "bf16"
        }
    }

    public init?(name: String) {
        guard let t = QuantType.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = t
    }
}

/// Scalar encoders and decoders of the block formats — the reference every SIMD kernel is
/// tested against, and how tllm writes quantized files. Rounding follows ggml's reference
/// quantizers (`quantize_row_q8_0_ref`, `…q4_0_ref`, `…q4_1_ref`).
public enum BlockCodec {
    // MARK: Decoding

    /// The `count` weights of one row stored as `type` at `p`, as floats.
    public static func decodeRow(_ p: UnsafeRawPointer, type: QuantType, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32: out.update(from: p.assumingMemoryBound(to: Float.self), count: count)
        case .f16: for i in 0..<count { out[i] = Float(p.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) }
        case .bf16: for i in 0..<count { out[i] = bf16ToFloat(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q8_0, .q4_0, .q4_1:
            for b in 0..<(count / 32) { decodeBlock(p + b * type.blockBytes, type: type, into: out + 32 * b) }
        }
    }

    /// One block of 32 weights.
    @inline(__always)
    public static func decodeBlock(_ p: UnsafeRawPointer, type: QuantType, into out: UnsafeMutablePointer<Float>) {
        let d = Float(p.loadUnaligned(as: Float16.self))
        switch type {
        case .q8_0:
            for j in 0..<32 { out[j] = d * Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) }
        case .q4_0:
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                out[j] = d * Float(Int(q & 0xF) - 8)
                out[j + 16] = d * Float(Int(q >> 4) - 8)
            }
        case .q4_1:
            let m = Float(p.loadUnaligned(fromByteOffset: 2, as: Float16.self))
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                out[j] = d * Float(q & 0xF) + m
                out[j + 16] = d * Float(q >> 4) + m
            }
        default: fatalError("decodeBlock: \(type) is not a block type")
        }
    }

    @inline(__always) public static func bf16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Round to nearest even, as `ggml_fp32_to_bf16` (NaN stays NaN).
    @inline(__always) public static func floatToBF16(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if f.isNaN { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
        return UInt16(truncatingIfNeeded: (u &+ (0x7FFF &+ ((u >> 16) & 1))) >> 16)
    }

    // MARK: Encoding

    /// Encodes `count` floats (a multiple of the block size) as one row of `type` at `p`.
    public static func encodeRow(_ x: UnsafePointer<Float>, count: Int, type: QuantType, into p: UnsafeMutableRawPointer) {
        switch type {
        case .f32: p.copyMemory(from: x, byteCount: 4 * count)
        case .f16: for i in 0..<count { p.storeBytes(of: Float16(x[i]), toByteOffset: 2 * i, as: Float16.self) }
        case .bf16: for i in 0..<count { p.storeBytes(of: floatToBF16(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0, .q4_0, .q4_1:
            for b in 0..<(count / 32) { encodeBlock(x + 32 * b, type: type, into: p + b * type.blockBytes) }
        }
    }

    static func encodeBlock(_ x: UnsafePointer<Float>, type: QuantType, into p: UnsafeMutableRawPointer) {
        switch type {
        case .q8_0:
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[j])) }
            let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: Float16(d), as: Float16.self)
            for j in 0..<32 { p.storeBytes(of: Int8((x[j] * id).rounded()), toByteOffset: 2 + j, as: Int8.self) }
        case .q4_0:
            var amax: Float = 0, mx: Float = 0
            for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); mx = x[j] }
            let d = mx / -8, id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: Float16(d), as: Float16.self)
            for j in 0..<16 {
                let a = UInt8(min(15, Int8(clamping: Int(x[j] * id + 8.5))))
                let b = UInt8(min(15, Int8(clamping: Int(x[j + 16] * id + 8.5))))
                p.storeBytes(of: a | (b << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        case .q4_1:
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<32 { lo = min(lo, x[j]); hi = max(hi, x[j]) }
            let d = (hi - lo) / 15, id: Float = d != 0 ? 1 / d : 0
            p.storeBytes(of: Float16(d), as: Float16.self)
            p.storeBytes(of: Float16(lo), toByteOffset: 2, as: Float16.self)
            for j in 0..<16 {
                let a = UInt8(min(15, Int8(clamping: Int((x[j] - lo) * id + 0.5))))
                let b = UInt8(min(15, Int8(clamping: Int((x[j + 16] - lo) * id + 0.5))))
                p.storeBytes(of: a | (b << 4), toByteOffset: 4 + j, as: UInt8.self)
            }
        default: fatalError("encodeBlock: \(type) is not a block type")
        }
    }
}
