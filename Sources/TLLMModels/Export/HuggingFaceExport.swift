import Foundation
import TLLMCore
import TLLMTokenizer

/// Export to a folder that HuggingFace `transformers` loads with `GPT2LMHeadModel.from_pretrained`.
///
/// GPT-2's `Conv1D` stores weights `[in, out]`, the transpose of ours (`nn.Linear`'s `[out, in]`);
/// names are the same (`transformer.h.0.attn.c_attn.weight`, …). The output layer is tied
/// (`tie_word_embeddings`), so `lm_head.weight` is not stored.
public enum HuggingFaceExport {
    public static func export(model: GPTModel, tokenizer: Tokenizer, to out: URL) throws {
        let c = model.config
        guard c.architecture == .gpt, c.norm == .layernorm, c.activation == .gelu, c.positions == .learned, c.bias,
              c.kvHeads == c.heads, !c.attentionOnly, c.tiedEmbeddings else {
            throw TLLMError("HuggingFace GPT-2 export needs a GPT-2-style model (layernorm, gelu, learned positions, biases)")
        }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var tensors: [(String, Tensor)] = []
        for (name, t) in model.namedParameters {
            let isConv1D = name.hasSuffix(".weight") && (name.contains(".attn.c_attn") || name.contains(".attn.c_proj")
                                                       || name.contains(".mlp.c_fc") || name.contains(".mlp.c_proj"))
            tensors.append((name, isConv1D ? Autograd.withNoGrad { t.transposedLastTwo() } : t))
        }
        try withExtendedLifetime(tensors) {
            let entries = tensors.map { SafeTensors.Entry(name: $0.0, shape: $0.1.shape, values: UnsafeBufferPointer(start: $0.1.data, count: $0.1.count)) }
            try SafeTensors.write(entries, metadata: ["format": "pt"], to: out.appendingPathComponent("model.safetensors"))
        }
        let eos = Int(tokenizer.specialID("<|endoftext|>") ?? Int32(c.vocabSize - 1))
        let config: [String: Any] = [
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": c.vocabSize, "n_positions": c.context,
            "n_ctx": c.context, "n_embd": c.dModel, "n_layer": c.layers, "n_head": c.heads, "n_inner": c.mlpHidden,
            "activation_function": "gelu_new", "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            "layer_norm_epsilon": Double(c.normEps), "initializer_range": 0.02, "bos_token_id": eos, "eos_token_id": eos,
            "tie_word_embeddings": true, "scale_attn_weights": true, "torch_dtype": "float32",
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                             to: out.appendingPathComponent("config.json"))
        try VocabularyFiles.writeJSON(tokenizer, to: out.appendingPathComponent("tokenizer.json"))
        let tokConfig: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c.context,
                                        "eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>"]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: tokConfig, options: [.prettyPrinted, .sortedKeys]),
                             to: out.appendingPathComponent("tokenizer_config.json"))
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: ["_from_model_config": true, "bos_token_id": eos, "eos_token_id": eos]),
                             to: out.appendingPathComponent("generation_config.json"))
    }
}
