import Foundation
import TLLMCore
import TLLMData
import TLLMDictionary

// MARK: - Self-taught learning

extension DictionaryExperiments {
    /// One row of the self-taught table.
    public struct SelfTaughtRow: Sendable {
        public var features: String, dimension: Int, labelsPerClass: Int, seed: Int, accuracy: Double
    }

    /// Dictionary (and PCA) from digits 0–4 with their labels unused; logistic regression on
    /// digits 5–9 with 1, 5, 10, 50 or all labels per class; accuracy on held-out 5–9 digits.
    public func selfTaught(progress: (String) -> Void) throws -> [SelfTaughtRow] {
        let digits = try LabeledVectors.digits()
        let source = Self.matrix(digits.filter { $0 < 5 })
        let target = digits.filter { $0 >= 5 }
        let s = settings
        var encoders: [(String, Int, (Matrix) -> Matrix)] = [("pixels", 64, { $0 })]
        for k in s.selfTaughtAtoms {
            let pcaK = min(k, 64)
            if !encoders.contains(where: { $0.0 == "PCA" && $0.1 == pcaK }) {
                let pca = PCA(source, components: pcaK)
                encoders.append(("PCA", pcaK, { pca.transform($0) }))
            }
            progress("self-taught: learning \(k) atoms on \(source.rows) unlabelled digits 0–4")
            let dict = DictionaryLearner(atoms: k, alpha: 1, maxIterations: 30).fit(source)
            let coder = SparseCoder(method: .cd, alpha: s.selfTaughtAlpha)
            encoders.append(("sparse codes", k, { dict.transform($0, coder: coder) }))
            encoders.append(("sparse codes, split ±", 2 * k, { Self.splitSigns(dict.transform($0, coder: coder)) }))
        }
        var rows: [SelfTaughtRow] = []
        for seed in s.seeds {
            var rng = RandomGenerator(seed: UInt64(seed), stream: RandomGenerator.streamID("self-taught"))
            let order = rng.permutation(target.count)
            let test = Array(order.prefix(target.count * 2 / 5)), pool = Array(order.dropFirst(test.count))
            let testX = Self.matrix(target.subset(test)), testY = test.map { target.labels[$0] - 5 }
            for n in s.labelsPerClass {
                let chosen = n == 0 ? pool : (0..<5).flatMap { c in pool.filter { target.labels[$0] - 5 == c }.prefix(n) }
                let trainX = Self.matrix(target.subset(chosen)), trainY = chosen.map { target.labels[$0] - 5 }
                for (name, dim, encode) in encoders {
                    let acc = Self.accuracy(train: encode(trainX), trainY, test: encode(testX), testY, classes: 5)
                    rows.append(SelfTaughtRow(features: name, dimension: dim, labelsPerClass: n, seed: seed, accuracy: acc))
                }
            }
            progress("self-taught: seed \(seed) done")
        }
        return rows
    }
}

extension DictionaryExperiments {
    /// `[max(u, 0) | max(−u, 0)]`: a linear classifier then sees whether an atom is used, whatever
    /// its sign (Coates & Ng, 2011).
    static func splitSigns(_ U: Matrix) -> Matrix {
        var out = Matrix(zeros: U.rows, 2 * U.cols)
        for r in 0..<U.rows { for c in 0..<U.cols {
            let u = U[r, c]
            if u > 0 { out[r, c] = u } else if u < 0 { out[r, U.cols + c] = -u }
        } }
        return out
    }
}

// MARK: - Semi-coupled dictionaries

extension DictionaryExperiments {
    public struct CoupledRow: Sendable {
        public var method: String, seed: Int, psnr: Double, accuracy: Double
    }

    /// Domain X: the 8×8 digits; domain Y: 2×2 block means (4×4) plus Gaussian noise. Learn on a
    /// training split, reconstruct X from Y on the rest; PSNR (peak 1) and the accuracy of a
    /// classifier trained on clean training images when fed each reconstruction.
    public func semiCoupled(progress: (String) -> Void) throws -> [CoupledRow] {
        let digits = try LabeledVectors.digits()
        let s = settings
        var rows: [CoupledRow] = []
        for seed in s.seeds {
            var rng = RandomGenerator(seed: UInt64(seed), stream: RandomGenerator.streamID("semi-coupled-split"))
            let order = rng.permutation(digits.count)
            let train = Array(order.prefix(1200)), test = Array(order.dropFirst(1200))
            let X = Self.matrix(digits), Y = Self.degrade(X, noise: s.degradationNoise, rng: &rng)
            let (xTrain, yTrain, xTest, yTest) = (X.rows(train), Y.rows(train), X.rows(test), Y.rows(test))
            let labelsTrain = train.map { digits.labels[$0] }, labelsTest = test.map { digits.labels[$0] }
            var classifier = LogisticRegression()
            classifier.fit(xTrain.values, features: 64, labels: labelsTrain, classes: 10)
            func row(_ name: String, _ reconstruction: Matrix) {
                let acc = Metrics.accuracy(classifier.predict(reconstruction.values), labelsTest)
                rows.append(CoupledRow(method: name, seed: seed, psnr: Self.psnr(reconstruction, xTest), accuracy: acc))
            }
            rows.append(CoupledRow(method: "clean image (upper bound)", seed: seed, psnr: .nan,
                                   accuracy: Metrics.accuracy(classifier.predict(xTest.values), labelsTest)))
            row("bicubic upsampling", Self.bicubicUpsample(yTest))
            row("ridge regression Y→X", Self.ridge(yTrain, xTrain, lambda: 0.1).predict(yTest))
            progress("semi-coupled: seed \(seed), learning the coupled dictionaries")
            let joint = SemiCoupledDictionaryLearner(atoms: s.coupledAtoms, alpha: s.coupledAlpha, gamma: s.coupledGamma, iterations: 0, seed: UInt64(seed))
                .fit(source: yTrain, target: xTrain)
            row("coupled dictionary (joint codes, W from ridge)", joint.predict(yTest))
            let sdl = SemiCoupledDictionaryLearner(atoms: s.coupledAtoms, alpha: s.coupledAlpha, gamma: s.coupledGamma, iterations: 20, seed: UInt64(seed))
                .fit(source: yTrain, target: xTrain)
            row("semi-coupled dictionaries", sdl.predict(yTest))
            // The low-resolution domain on its own terms: a classifier trained on Y.
            var yClassifier = LogisticRegression()
            yClassifier.fit(yTrain.values, features: 16, labels: labelsTrain, classes: 10)
            rows.append(CoupledRow(method: "classifier trained on Y itself", seed: seed, psnr: .nan,
                                   accuracy: Metrics.accuracy(yClassifier.predict(yTest.values), labelsTest)))
        }
        return rows
    }

    /// 2×2 block means of 8×8 images (→ 4×4) plus N(0, σ²) noise.
    static func degrade(_ X: Matrix, noise: Float, rng: inout RandomGenerator) -> Matrix {
        var Y = Matrix(zeros: X.rows, 16)
        for r in 0..<X.rows {
            for by in 0..<4 { for bx in 0..<4 {
                let s = X[r, (2 * by) * 8 + 2 * bx] + X[r, (2 * by) * 8 + 2 * bx + 1] + X[r, (2 * by + 1) * 8 + 2 * bx] + X[r, (2 * by + 1) * 8 + 2 * bx + 1]
                Y[r, by * 4 + bx] = s / 4 + noise * rng.nextNormal()
            } }
        }
        return Y
    }

    /// 4×4 → 8×8 by bicubic interpolation (Keys, a = −0.5; pixel centres aligned; edges clamped).
    static func bicubicUpsample(_ Y: Matrix) -> Matrix {
        func w(_ t: Float) -> Float {
            let a: Float = -0.5, x = abs(t)
            if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
            if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
            return 0
        }
        var X = Matrix(zeros: Y.rows, 64)
        for r in 0..<Y.rows {
            for oy in 0..<8 { for ox in 0..<8 {
                let sy = (Float(oy) + 0.5) / 2 - 0.5, sx = (Float(ox) + 0.5) / 2 - 0.5
                let y0 = Int(sy.rounded(.down)), x0 = Int(sx.rounded(.down))
                var v: Float = 0
                for m in -1...2 { for n in -1...2 {
                    let yy = min(max(y0 + m, 0), 3), xx = min(max(x0 + n, 0), 3)
                    v += w(sy - Float(y0 + m)) * w(sx - Float(x0 + n)) * Y[r, yy * 4 + xx]
                } }
                X[r, oy * 8 + ox] = v
            } }
        }
        return X
    }

    /// PSNR in dB with peak 1 over a whole set: 10·log10(1 / mean squared error).
    static func psnr(_ a: Matrix, _ b: Matrix) -> Double {
        var e = 0.0
        for i in 0..<a.values.count { let d = Double(a.values[i] - b.values[i]); e += d * d }
        return 10 * log10(1 / (e / Double(a.values.count)))
    }

    /// Ridge regression with an intercept (centred inputs and outputs).
    struct Ridge {
        var inputMean: [Float], outputMean: [Float], W: Matrix
        func predict(_ Y: Matrix) -> Matrix {
            var C = Y
            for r in 0..<C.rows { for j in 0..<C.cols { C[r, j] -= inputMean[j] } }
            var P = C.times(W)
            for r in 0..<P.rows { for j in 0..<P.cols { P[r, j] += outputMean[j] } }
            return P
        }
    }

    static func ridge(_ Y: Matrix, _ X: Matrix, lambda: Float) -> Ridge {
        func centred(_ M: Matrix) -> (Matrix, [Float]) {
            let mean = (0..<M.cols).map { j in (0..<M.rows).reduce(Float(0)) { $0 + M[$1, j] } / Float(M.rows) }
            var C = M
            for r in 0..<C.rows { for j in 0..<C.cols { C[r, j] -= mean[j] } }
            return (C, mean)
        }
        let (Yc, ym) = centred(Y), (Xc, xm) = centred(X)
        var G = Yc.times(Yc, transposeSelf: true)
        for i in 0..<G.rows { G[i, i] += lambda }
        return Ridge(inputMean: ym, outputMean: xm, W: G.solvingSPD(Yc.times(Xc, transposeSelf: true))!)
    }
}
