/// Every subcommand, in the order `tllm help` lists them.
let allCommands: [Command.Type] = [
    BenchGEMMCommand.self,
]
