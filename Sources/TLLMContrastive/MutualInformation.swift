import Foundation
import TLLMCore

/// Variational lower bounds on mutual information from a learned critic T(x, y), checked where
/// the truth is known. On a batch, `S[i, j] = T(x_i, y_j)`: the diagonal holds joint samples,
/// the rest pairs from the product of the marginals.
public enum MIEstimator: String, Codable, Sendable, CaseIterable {
    /// MINE (Belghazi et al., 2018): the Donsker–Varadhan bound E_P[T] − log E_Q[e^T], trained with
    /// the moving-average correction of the gradient of the log term.
    case mine
    /// NWJ / f-GAN KL bound (Nguyen, Wainwright & Jordan, 2010): E_P[T] − e⁻¹·E_Q[e^T].
    case nwj
    /// InfoNCE (van den Oord et al., 2018): E[T_ii − log Σ_j e^{T_ij}] + log N; never above log N.
    case infonce
    /// Deep InfoMax's Jensen–Shannon objective (Hjelm et al., 2019) for training, −softplus(−T)
    /// on joint pairs minus softplus(T) on the others; MI is then read off the critic with DV.
    case jsd

    /// The bound's value (nats) on a score matrix `[N, N]`, as a tensor on the tape.
    public func bound(_ S: Tensor) -> Tensor {
        let N = S.shape[0]
        let diag = MIEstimator.diagonal(S)                                                 // [N]
        let logMeanExpOff = MIEstimator.logMeanExpOffDiagonal(S)                           // [1]
        switch self {
        case .mine, .jsd: return diag.mean().reshaped([1]) - logMeanExpOff
        case .nwj: return diag.mean().reshaped([1]).adding(scalar: 1) - logMeanExpOff.exp()
        case .infonce: return (diag - S.logSumExp()).mean().reshaped([1]).adding(scalar: Float(Foundation.log(Double(N))))
        }
    }

    /// `[N, N]` → its diagonal `[N]` (differentiable).
    static func diagonal(_ S: Tensor) -> Tensor {
        let N = S.shape[0]
        return S.reshaped([N * N, 1]).gatherRows((0..<N).map { Int32($0 * N + $0) }).reshaped([N])
    }

    /// log of the mean of e^{S_ij} over i ≠ j, `[1]`.
    static func logMeanExpOffDiagonal(_ S: Tensor) -> Tensor {
        let N = S.shape[0]
        check(S.rank == 2 && S.shape[1] == N && N >= 2, "MI bound: scores \(S.shape) must be [N, N] with N ≥ 2")
        return (S + ContrastiveLoss.selfMask(N)).reshaped([1, N * N]).logSumExp().adding(scalar: -Float(Foundation.log(Double(N * (N - 1)))))
    }
}

/// x ~ N(0, I_d), y = ρ·x + √(1 − ρ²)·ε: the mutual information is −(d/2)·log(1 − ρ²) nats.
public struct CorrelatedGaussians: Sendable {
    public var dimension: Int
    public var rho: Double
    public init(dimension: Int, rho: Double) { self.dimension = dimension; self.rho = rho }

    public var trueMI: Double { -Double(dimension) / 2 * Foundation.log(1 - rho * rho) }

    /// `n` pairs: x `[n, d]`, y `[n, d]`.
    public func sample(_ n: Int, rng: inout RandomGenerator) -> (Tensor, Tensor) {
        let x = Tensor.randn([n, dimension], rng: &rng), e = Tensor.randn([n, dimension], rng: &rng)
        let y = Tensor(uninitialized: [n, dimension])
        let a = Float(rho), b = Float((1 - rho * rho).squareRoot())
        for i in 0..<y.count { y.data[i] = a * x.data[i] + b * e.data[i] }
        return (x, y)
    }
}

/// A critic T(x, y) = MLP([x, y]) scored on all N² pairs of a batch, trained to maximise one
/// ``MIEstimator``'s bound.
public final class MICritic: Module {
    @ModuleInfo public var net: Sequential
    let dimension: Int

    public init(dimension d: Int, hidden: Int = 64, seed: UInt64) {
        dimension = d
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("mi-critic"))
        super.init()
        net = Sequential([
            Linear(2 * d, hidden, std: (2 / Float(2 * d)).squareRoot(), rng: &rng), ActivationLayer.relu,
            Linear(hidden, hidden, std: (2 / Float(hidden)).squareRoot(), rng: &rng), ActivationLayer.relu,
            Linear(hidden, 1, std: (1 / Float(hidden)).squareRoot(), rng: &rng),
        ])
    }

    /// `S[i, j] = T(x_i, y_j)`, `[N, N]`.
    public func scores(_ x: Tensor, _ y: Tensor) -> Tensor {
        let N = x.shape[0], d = dimension
        check(x.shape == [N, d] && y.shape == [N, d] && N >= 2, "MICritic: x \(x.shape), y \(y.shape) for dimension \(d)")
        let xi = x.gatherRows((0..<(N * N)).map { Int32($0 / N) })                   // [N², d]: x_i repeated
        let yj = y.gatherRows((0..<(N * N)).map { Int32($0 % N) })                   // [N², d]: y_j cycled
        return net(Tensor.concat([xi, yj], axis: 1), context: .inference).reshaped([N, N])
    }

    /// Trains for `steps` on fresh batches of `batch` pairs; returns the final estimate on
    /// `evalBatches` fresh batches (DV for MINE and JSD, each bound's own value otherwise).
    public func fit(_ data: CorrelatedGaussians, estimator: MIEstimator, steps: Int = 1000, batch: Int = 128,
                    learningRate: Float = 1e-3, evalBatches: Int = 8, seed: UInt64 = 1) -> Double {
        let optimizer = AdamW(groups: ParameterGroup.standard(parameters, weightDecay: 0), learningRate: learningRate)
        var rng = RandomGenerator(seed: seed, stream: RandomGenerator.streamID("mi-data"))
        var ema: Double? = nil                                                          // MINE: moving average of E_Q[e^T]
        for _ in 0..<steps {
            let (x, y) = data.sample(batch, rng: &rng)
            let S = scores(x, y)
            let loss: Tensor
            switch estimator {
            case .mine:
                // ∇ log E_Q[e^T] = ∇E_Q[e^T] / E_Q[e^T]: the denominator from a moving average (α = 0.01)
                // removes the bias of the mini-batch estimate.
                let meanExp = MIEstimator.logMeanExpOffDiagonal(S).exp()                 // [1]
                let m = Double(meanExp.item)
                ema = ema.map { 0.99 * $0 + 0.01 * m } ?? m
                loss = (meanExp.scaled(by: Float(1 / ema!)) - MIEstimator.diagonal(S).mean().reshaped([1])).sum()
            case .jsd:
                let diag = MIEstimator.diagonal(S)
                let offMean = (S.softplus().sum() - diag.softplus().sum()).scaled(by: 1 / Float(batch * (batch - 1)))
                loss = diag.negated().softplus().mean() + offMean
            case .nwj, .infonce:
                loss = estimator.bound(S).negated().sum()
            }
            loss.backward()
            optimizer.step(); optimizer.zeroGrad()
        }
        var total = 0.0
        Autograd.withNoGrad {
            for _ in 0..<evalBatches {
                let (x, y) = data.sample(batch, rng: &rng)
                let reading: MIEstimator = estimator == .jsd ? .mine : estimator
                total += Double(reading.bound(scores(x, y)).item)
            }
        }
        return total / Double(evalBatches)
    }
}
