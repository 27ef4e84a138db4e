import Foundation
import XCTest

/// `tllm contrastive` and `tllm contrastive probe` end to end, and their refusals.
final class ContrastiveCLITests: XCTestCase {
    typealias H = HostileInputTests

    func testTrainSaveProbe() throws {
        let run = H.scratch.appendingPathComponent("contrastive-\(UUID().uuidString)")
        let t = H.tllm(["contrastive", "--method", "moco", "--encoder", "mlp", "--width", "8", "--epochs", "2", "--batch", "128",
                        "--queue", "256", "--out", run.path, "--json", "--threads", "1"])
        XCTAssertEqual(t.code, 0, t.stderr)
        for f in ["model.safetensors", "contrastive.json", "metrics.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(f).path), f)
        }
        let p = H.tllm(["contrastive", "probe", "--model", run.path, "--labels-per-class", "5", "--json"])
        XCTAssertEqual(p.code, 0, p.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Double])
        XCTAssertGreaterThan(json["linear_accuracy"]!, 0.3, "far above chance (0.1) even for a 2-epoch encoder")
        XCTAssertGreaterThan(json["knn_accuracy"]!, 0.3)
        let pixels = H.tllm(["contrastive", "probe", "--features", "pixels", "--labels-per-class", "0", "--json"])
        XCTAssertEqual(pixels.code, 0, pixels.stderr)
        // Refusals: an occupied folder, a queue that is not a multiple of the batch, a batch larger than the data.
        let again = H.tllm(["contrastive", "--epochs", "1", "--out", run.path])
        XCTAssertNotEqual(again.code, 0); XCTAssertFalse(again.crashed)
        let queue = H.tllm(["contrastive", "--method", "moco", "--batch", "64", "--queue", "100", "--epochs", "1",
                            "--out", run.path + "-q"])
        XCTAssertNotEqual(queue.code, 0); XCTAssertTrue(queue.stderr.contains("--queue 100 must be a positive multiple of --batch 64"), queue.stderr)
        let batch = H.tllm(["contrastive", "--batch", "5000", "--epochs", "1", "--out", run.path + "-b"])
        XCTAssertNotEqual(batch.code, 0); XCTAssertTrue(batch.stderr.contains("larger than the"), batch.stderr)
        let neither = H.tllm(["contrastive", "probe"])
        XCTAssertNotEqual(neither.code, 0); XCTAssertTrue(neither.stderr.contains("--model RUN or --features"), neither.stderr)
    }
}
