import TLLMTraining

/// Entry points the tests use to cut a sweep cell short (as Ctrl-C would).
public enum TLLMScalingTestHooks {
    public static func request(_ r: SweepRunner, _ c: SweepGrid.Cell) -> TrainRequest { r.request(c) }
    public static func plan(_ r: TrainRequest) throws -> LanguageModelTraining.Plan { try LanguageModelTraining.plan(r, log: { _ in }) }
    public static func execute(_ p: LanguageModelTraining.Plan, stopAt: Int) throws -> Trainer.Summary {
        try LanguageModelTraining.execute(p, progress: ProgressDisplay(forceLines: true), stopAt: stopAt)
    }
}
