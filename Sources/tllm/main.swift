import Foundation
import TLLMCLI

// tllm — the command-line program. The commands live in the TLLMCLI library (one file per
// command group, each a typed options struct); this file only hands them the arguments.

exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
