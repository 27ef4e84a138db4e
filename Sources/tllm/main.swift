import Foundation
import TLLMCore

// tllm — the command-line program. Each subcommand lives in Commands/ and only wires flags to the
// libraries.

let argv = Array(CommandLine.arguments.dropFirst())
exit(CLI.run(argv))
