import TLLMCore

/// Every architecture tllm can build from a `config.json`: adding one is its own files plus one
/// line here.
public enum ModelRegistry {
    static let builders: [ModelConfig.Architecture: (ModelConfig, UInt64) throws -> Module] = [
        .gpt: { try GPTModel(configuration: $0, seed: $1) },
        .bert: { try BERTModel(configuration: $0, seed: $1) },
    ]

    /// The registered architectures, sorted by name.
    public static var architectures: [ModelConfig.Architecture] { builders.keys.sorted { $0.rawValue < $1.rawValue } }

    public static func isRegistered(_ a: ModelConfig.Architecture) -> Bool { builders[a] != nil }

    /// A freshly initialised model of `config`'s architecture.
    public static func make(_ config: ModelConfig, seed: UInt64) throws -> Module {
        guard let build = builders[config.architecture] else {
            throw TLLMError("unknown architecture '\(config.architecture)'")
        }
        return try build(config, seed)
    }
}
