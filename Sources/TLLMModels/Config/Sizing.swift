import Foundation
import TLLMCore

/// Picks an architecture for a parameter budget (`--params 10M`).
///
/// The rule: head size 64, `d_model` a multiple of 64 (so `heads = d_model/64`), any depth, and among
/// all (d_model, layers) whose parameter count is within ±10% of the target, the one whose aspect
/// ratio `d_model / layers` is closest to 64 (in log scale) — a fixed depth-to-width family
/// (GPT-2 small is 768/12 = 64) — with ties going to the count closest to the target.
public enum ModelSizing {
    /// What the budget counts.
    public enum Target: String, Sendable {
        /// All trainable parameters, tied embedding once (`tllm train --params`).
        case total
        /// Parameters outside the embeddings (Kaplan's N; scaling sweeps).
        case nonEmbedding = "non_embedding"
    }

    public static let aspectRatio = 64.0
    public static let tolerance = 0.10

    /// A configuration for `target` parameters, or an error naming the closest sizes possible.
    public static func config(parameters target: Int, counting: Target = .total, vocabSize: Int, context: Int = 256,
                              template: ModelConfig? = nil) throws -> ModelConfig {
        var best: (ModelConfig, Double, Double)? = nil  // config, aspect distance, count distance
        var nearest: [(Int, ModelConfig)] = []
        for k in 1...48 {
            let d = 64 * k
            for layers in 1...64 {
                var c = template ?? ModelConfig(vocabSize: vocabSize, context: context, layers: layers, dModel: d, heads: k)
                c.vocabSize = vocabSize
                c.context = context
                c.layers = layers
                c.dModel = d
                c.heads = k
                c.mlpHidden = c.activation == .gelu ? 4 * d : ModelConfig.swigluHidden(d)
                let n = counting == .total ? c.parameters : c.nonEmbeddingParameters
                nearest.append((n, c))
                let rel = abs(Double(n) - Double(target)) / Double(target)
                guard rel <= tolerance else { continue }
                let aspect = abs(Foundation.log(Double(d) / Double(layers) / aspectRatio))
                if best == nil || aspect < best!.1 - 1e-12 || (abs(aspect - best!.1) < 1e-12 && rel < best!.2) {
                    best = (c, aspect, rel)
                }
            }
        }
        if let best { return best.0 }
        let sorted = nearest.sorted { abs($0.0 - target) < abs($1.0 - target) }
        let hint = sorted.prefix(3).map { "\(formatCount($0.0)) (d_model \($0.1.dModel), \($0.1.layers) layers)" }
            .joined(separator: ", ")
        let embedding = vocabSize * 64
        let why = counting == .total && embedding > target / 2
            ? " (the token embedding alone is \(formatCount(embedding)) at d_model 64; for models this small use the 2048-token vocabulary: --vocab vocab/tllm-2k.json)" : ""
        throw TLLMError("no architecture with head size 64 reaches \(formatCount(target)) \(counting == .total ? "total" : "non-embedding") parameters ±10% with a \(vocabSize)-token vocabulary; closest: \(hint)\(why)")
    }
}
