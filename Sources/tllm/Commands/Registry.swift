/// Every subcommand, in the order `tllm help` lists them.
let allCommands: [Command.Type] = [
    TrainCommand.self,
    GenerateCommand.self,
    EvalPerplexityCommand.self,
    ExportCommand.self,
    TokenizerTrainCommand.self,
    TokenizerEncodeCommand.self,
    TokenizerDecodeCommand.self,
    TokenizerStatsCommand.self,
    TokenizeCommand.self,
    BenchGEMMCommand.self,
    BenchTrainCommand.self,
    BenchStepCommand.self,
    BenchGenerateCommand.self,
    BenchNumericsCommand.self,
    BenchOpsCommand.self,
]
