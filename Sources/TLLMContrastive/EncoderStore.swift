import Foundation
import TLLMCore

/// A trained encoder on disk: `RUN/contrastive.json` (the config), `RUN/model.safetensors`
/// (every tensor of the module tree, running statistics included) and `RUN/metrics.csv`.
public enum EncoderStore {
    public static func save(_ trainer: ContrastiveTrainer, records: [ContrastiveTrainer.EpochRecord], to run: URL) throws {
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let named = trainer.encoder.namedParameters
        let entries = named.map { SafeTensors.Entry(name: $0.0, shape: $0.1.shape, values: UnsafeBufferPointer(start: $0.1.data, count: $0.1.count)) }
        try withExtendedLifetime(named) {
            try SafeTensors.write(entries, metadata: ["format": "pt", "tllm": "contrastive encoder"], to: run.appendingPathComponent("model.safetensors"))
        }
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(trainer.config), to: run.appendingPathComponent("contrastive.json"))
        let csv = "epoch,loss,seconds\n" + records.map { "\($0.epoch),\($0.loss),\(String(format: "%.3f", $0.seconds))" }.joined(separator: "\n") + "\n"
        try AtomicFile.write(csv, to: run.appendingPathComponent("metrics.csv"))
    }

    /// The config and encoder saved in `run`.
    public static func load(_ run: URL) throws -> (ContrastiveConfig, ImageEncoder) {
        let cfgURL = run.appendingPathComponent("contrastive.json")
        guard let data = FileManager.default.contents(atPath: cfgURL.path) else {
            throw TLLMError("not a contrastive run (no contrastive.json); train one with tllm contrastive --out", file: run.path)
        }
        let config: ContrastiveConfig
        do { config = try JSONDecoder().decode(ContrastiveConfig.self, from: data) } catch {
            throw TLLMError("invalid contrastive.json: \(error)", file: cfgURL.path)
        }
        let encoder = ImageEncoder(config.encoder, seed: 0)
        let url = run.appendingPathComponent("model.safetensors")
        let file = try SafeTensors.read(url)
        for (name, t) in encoder.namedParameters {
            guard let e = file.tensors[name] else { throw TLLMError("tensor \(name) is missing", file: url.path) }
            guard e.shape == t.shape else { throw TLLMError("tensor \(name) has shape \(e.shape), the config implies \(t.shape)", file: url.path) }
            if let bad = e.values.firstIndex(where: { !$0.isFinite }) { throw TLLMError("tensor \(name) holds a non-finite value at element \(bad)", file: url.path) }
            e.values.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
        }
        return (config, encoder)
    }
}
