/// A fast 64-bit hash of a short byte string (8 bytes per round, multiply–xorshift mixing).
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(n) &* 0xFF51_AFD7_ED55_8CCD)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        let k = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = (h ^ k) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 29
        i += 8
    }
    if i < n {
        var k: UInt64 = 0
        var s: UInt64 = 0
        while i < n { k |= UInt64(p[i]) << s; s += 8; i += 1 }
        h = (h ^ k) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 29
    }
    h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
    return h ^ (h >> 32)
}

@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Byte string → `UInt32`, open addressing with linear probing; keys live in one arena.
final class ByteStringTable {
    private var slots: [Int32]            // index into entries, or -1
    private var hashes: [UInt64] = []
    private var offsets: [Int32] = []
    private var lengths: [Int32] = []
    private(set) var values: [UInt32] = []
    private var arena: [UInt8] = []
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        hashes.reserveCapacity(capacity)
    }

    var count: Int { values.count }

    private func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for e in 0..<hashes.count {
            var s = Int(truncatingIfNeeded: hashes[e]) & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(e)
        }
    }

    /// Looks up `p[0..<n]`.
    @inline(__always)
    func get(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt32? {
        let h = hashBytes(p, n)
        var s = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sl in
            arena.withUnsafeBufferPointer { ar in
                while true {
                    let e = Int(sl[s])
                    if e < 0 { return nil }
                    if hashes[e] == h && Int(lengths[e]) == n && memcmp(ar.baseAddress! + Int(offsets[e]), p, n) == 0 {
                        return values[e]
                    }
                    s = (s + 1) & mask
                }
            }
        }
    }

    /// Adds `delta` to the value of `p[0..<n]`, inserting it with value `delta` if absent.
    @inline(__always)
    func add(_ p: UnsafePointer<UInt8>, _ n: Int, _ delta: UInt32) {
        let h = hashBytes(p, n)
        var s = Int(truncatingIfNeeded: h) & mask
        let hit: Int? = arena.withUnsafeBufferPointer { ar in
            while true {
                let e = Int(slots[s])
                if e < 0 { return nil }
                if hashes[e] == h && Int(lengths[e]) == n && memcmp(ar.baseAddress! + Int(offsets[e]), p, n) == 0 { return e }
                s = (s + 1) & mask
            }
        }
        if let e = hit { values[e] &+= delta; return }
        set(Array(UnsafeBufferPointer(start: p, count: n)), delta)
    }

    /// Calls `body(key, value)` for every entry, in insertion order.
    func forEach(_ body: (ArraySlice<UInt8>, UInt32) -> Void) {
        for e in 0..<values.count {
            body(arena[Int(offsets[e])..<(Int(offsets[e]) + Int(lengths[e]))], values[e])
        }
    }

    /// Inserts or replaces; returns false if the key was already present (value replaced).
    @discardableResult
    func set(_ bytes: [UInt8], _ value: UInt32) -> Bool {
        let found: Int? = bytes.withUnsafeBufferPointer { b in
            let h = hashBytes(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, b.count)
            var s = Int(truncatingIfNeeded: h) & mask
            while true {
                let e = Int(slots[s])
                if e < 0 { return nil }
                if hashes[e] == h && Int(lengths[e]) == b.count
                    && arena.withUnsafeBufferPointer({ memcmp($0.baseAddress! + Int(offsets[e]), b.baseAddress!, b.count) == 0 }) {
                    return e
                }
                s = (s + 1) & mask
            }
        }
        if let e = found { values[e] = value; return false }
        if (hashes.count + 1) * 2 > slots.count { grow() }
        let h = bytes.withUnsafeBufferPointer { hashBytes($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(hashes.count)
        hashes.append(h)
        offsets.append(Int32(arena.count))
        lengths.append(Int32(bytes.count))
        values.append(value)
        if arena.isEmpty { arena.reserveCapacity(1 << 16) }
        arena.append(contentsOf: bytes)
        if arena.isEmpty { arena.append(0) }
        return true
    }
}

/// `UInt64` → `UInt32`, open addressing (for merge pairs: (left rank, right rank) → merged rank).
final class PairTable {
    private var keys: [UInt64]
    private var vals: [UInt32]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: PairTable.empty, count: size)
        vals = [UInt32](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    static func key(_ a: UInt32, _ b: UInt32) -> UInt64 { (UInt64(a) << 32) | UInt64(b) }

    @inline(__always)
    func get(_ a: UInt32, _ b: UInt32) -> UInt32? {
        let k = PairTable.key(a, b)
        var s = Int(truncatingIfNeeded: mix64(k)) & mask
        return keys.withUnsafeBufferPointer { kp in
            while true {
                let x = kp[s]
                if x == k { return vals[s] }
                if x == PairTable.empty { return nil }
                s = (s + 1) & mask
            }
        }
    }

    /// Inserts if absent (keeps the first value, i.e. the lowest rank when filled in rank order).
    func insertIfAbsent(_ a: UInt32, _ b: UInt32, _ v: UInt32) {
        if (count + 1) * 2 > keys.count { grow() }
        let k = PairTable.key(a, b)
        var s = Int(truncatingIfNeeded: mix64(k)) & mask
        while keys[s] != PairTable.empty {
            if keys[s] == k { return }
            s = (s + 1) & mask
        }
        keys[s] = k
        vals[s] = v
        count += 1
    }

    private func grow() {
        let oldK = keys, oldV = vals
        keys = [UInt64](repeating: PairTable.empty, count: oldK.count * 2)
        vals = [UInt32](repeating: 0, count: oldK.count * 2)
        mask = keys.count - 1
        count = 0
        for i in 0..<oldK.count where oldK[i] != PairTable.empty { insertIfAbsent(UInt32(oldK[i] >> 32), UInt32(truncatingIfNeeded: oldK[i]), oldV[i]) }
    }
}

import Foundation
