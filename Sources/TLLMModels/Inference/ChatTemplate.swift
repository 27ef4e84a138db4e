/// A chat template: how a conversation becomes the prompt a chat model was trained on.
/// tllm implements ChatML (`<|im_start|>role\n…<|im_end|>\n`, SmolLM2, Qwen, …), recognised from
/// a GGUF file's Jinja `tokenizer.chat_template`, including the default system message the
/// template inserts when the conversation has none.
public struct ChatTemplate: Sendable, Equatable {
    public var defaultSystem: String?

    public init(defaultSystem: String?) { self.defaultSystem = defaultSystem }

    /// Recognises ChatML in a Jinja template; nil for anything else.
    public init?(template: String) {
        guard template.contains("<|im_start|>"), template.contains("<|im_end|>") else { return nil }
        // "…'<|im_start|>system\nYou are …<|im_end|>\n' }}{% endif %}…" — the inserted system message.
        if let a = template.range(of: "<|im_start|>system\n"), let b = template[a.upperBound...].range(of: "<|im_end|>") {
            let s = String(template[a.upperBound..<b.lowerBound])
            defaultSystem = s.contains("{{") || s.contains("{%") ? nil : s
        } else {
            defaultSystem = nil
        }
    }

    /// The special tokens a rendered prompt contains.
    public static let specialTokens: Set<String> = ["<|im_start|>", "<|im_end|>"]

    /// The prompt for a conversation of (role, content) messages, ending with the assistant's turn.
    public func render(_ messages: [(role: String, content: String)], system: String? = nil) -> String {
        var msgs = messages
        if msgs.first?.role != "system", let s = system ?? defaultSystem { msgs.insert(("system", s), at: 0) }
        return msgs.map { "<|im_start|>\($0.role)\n\($0.content)<|im_end|>\n" }.joined() + "<|im_start|>assistant\n"
    }
}
