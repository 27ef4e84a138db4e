import Foundation

/// Times the quantized matrix–vector kernels: weight bytes read per second and multiply-adds per
/// second, per type and kernel path, for a matrix that fits in cache and one that does not.
public enum QuantBenchmark {
    public struct Row: Codable, Sendable {
        public var type: String
        public var path: String
        /// `int8` (activations quantized, integer dot products) or `f32`.
        public var activations: String
        public var rows: Int
        public var cols: Int
        public var microseconds: Double
        public var gigabytesPerSecond: Double
        public var gflops: Double
        enum CodingKeys: String, CodingKey {
            case type, path, activations, rows, cols, microseconds, gigabytesPerSecond = "weight_gb_per_s", gflops
        }
    }

    public static func run(types: [QuantType], shapes: [(Int, Int)], seconds: Double = 0.3) -> [Row] {
        var out: [Row] = []
        let saved = QuantDispatch.path, savedActivations = QuantDispatch.activations
        defer { QuantDispatch.path = saved; QuantDispatch.activations = savedActivations }
        for (rows, cols) in shapes {
            var rng = RandomGenerator(seed: 3)
            let w = Tensor.randn([rows, cols], std: 0.05, rng: &rng), x = Tensor.randn([cols], rng: &rng)
            let y = Tensor(uninitialized: [rows])
            for type in types {
                let m = QuantizedMatrix(quantizing: w.data, rows: rows, cols: cols, type: type)
                let modes: [QuantDispatch.Activations] = [.q4_0, .q4_1, .q8_0].contains(type) ? [.int8, .f32] : [.f32]
                for path in [QuantDispatch.Path.avx2, .avx512] where QuantDispatch.supports(path) {
                  for mode in modes {
                    QuantDispatch.path = path
                    QuantDispatch.activations = mode
                    m.gemv(x.data, into: y.data)
                    var n = 0
                    let t0 = Clock.now()
                    while Clock.now() - t0 < seconds { m.gemv(x.data, into: y.data); n += 1 }
                    let dt = (Clock.now() - t0) / Double(n)
                    out.append(Row(type: type.description, path: path.rawValue, activations: mode.rawValue, rows: rows, cols: cols,
                                   microseconds: dt * 1e6, gigabytesPerSecond: Double(m.byteCount) / dt / 1e9,
                                   gflops: 2 * Double(rows * cols) / dt / 1e9))
                  }
                }
            }
        }
        return out
    }
}
