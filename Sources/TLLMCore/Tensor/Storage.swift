import Foundation

/// A 64-byte-aligned, reference-counted block of `Float`s.
///
/// Storage comes from ``BufferPool``: when the last reference goes, the block returns to the pool
/// and the next request of the same size reuses it, so a training step that repeats the same shapes
/// allocates no activation memory once warmed up.
public final class Storage: @unchecked Sendable {
    /// The first element.
    public let pointer: UnsafeMutablePointer<Float>
    /// The number of elements.
    public let count: Int

    /// Uninitialised storage of `count` elements.
    public init(count: Int) {
        self.count = count
        self.pointer = BufferPool.shared.acquire(count)
    }

    /// Storage of `count` elements, all `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        if value == 0 {
            memset(pointer, 0, count * MemoryLayout<Float>.stride)
        } else {
            pointer.update(repeating: value, count: count)
        }
    }

    deinit { BufferPool.shared.release(pointer, count: count) }

    /// The elements as a buffer.
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// A free list of aligned float blocks, keyed by exact element count.
///
/// Shapes repeat from one training step to the next, so exact sizes hit almost always. The pool
/// keeps at most ``capacityBytes`` idle; beyond that, released blocks are freed.
public final class BufferPool: @unchecked Sendable {
    /// The process-wide pool.
    public static let shared = BufferPool()

    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var lock = NSLock()
    /// Bytes held idle in the pool.
    public private(set) var idleBytes = 0
    /// Bytes handed out and not yet returned.
    public private(set) var liveBytes = 0
    /// The largest `liveBytes` seen (peak tensor memory).
    public private(set) var peakLiveBytes = 0
    /// Fresh allocations made (a warmed-up training step adds none).
    public private(set) var allocations = 0
    /// Idle memory kept at most.
    public var capacityBytes = 8 << 30

    @inline(__always)
    func acquire(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(1, count) * 4
        lock.lock()
        liveBytes += bytes
        if liveBytes > peakLiveBytes { peakLiveBytes = liveBytes }
        if var list = free[count], let p = list.popLast() {
            free[count] = list
            idleBytes -= bytes
            lock.unlock()
            return p
        }
        allocations += 1
        lock.unlock()
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: max(1, count))
    }

    @inline(__always)
    func release(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let bytes = max(1, count) * 4
        lock.lock()
        liveBytes -= bytes
        if idleBytes + bytes <= capacityBytes {
            free[count, default: []].append(p)
            idleBytes += bytes
            lock.unlock()
        } else {
            lock.unlock()
            UnsafeMutableRawPointer(p).deallocate()
        }
    }

    /// Frees every idle block.
    public func drain() {
        lock.lock()
        let lists = free
        free = [:]
        idleBytes = 0
        lock.unlock()
        for (_, list) in lists { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
    }

    /// Resets the peak to the current live size.
    public func resetPeak() {
        lock.lock(); peakLiveBytes = liveBytes; lock.unlock()
    }
}
