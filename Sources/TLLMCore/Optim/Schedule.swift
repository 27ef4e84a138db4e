import Foundation

/// A learning rate as a function of the step (0-based).
public protocol LearningRateSchedule: Sendable {
    func learningRate(at step: Int) -> Float
}

/// Linear warmup from 0 to `peak` over `warmupSteps`, then cosine decay to `minimum` at `totalSteps`.
public struct WarmupCosineSchedule: LearningRateSchedule, Codable {
    public var peak: Float
    public var minimum: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Float, minimum: Float = 0, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak; self.minimum = minimum; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return minimum }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        return minimum + (peak - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// Linear warmup, then linear decay to `minimum` at `totalSteps`.
public struct LinearSchedule: LearningRateSchedule, Codable {
    public var peak: Float
    public var minimum: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Float, minimum: Float = 0, warmupSteps: Int = 0, totalSteps: Int) {
        self.peak = peak; self.minimum = minimum; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return minimum }
        let progress = Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))
        return peak + (minimum - peak) * progress
    }
}

/// A constant rate, after an optional linear warmup.
public struct ConstantSchedule: LearningRateSchedule, Codable {
    public var value: Float
    public var warmupSteps: Int

    public init(_ value: Float, warmupSteps: Int = 0) { self.value = value; self.warmupSteps = warmupSteps }

    public func learningRate(at step: Int) -> Float {
        step < warmupSteps ? value * Float(step + 1) / Float(warmupSteps) : value
    }
}
