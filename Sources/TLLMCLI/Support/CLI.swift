import Foundation
import TLLMCore

/// A subcommand: its spec (flags, help) and what it does.
protocol Command {
    static var spec: CommandSpec { get }
    static func run(_ args: Arguments) throws
}

public enum CLI {
    /// Every command by its words ("train", "tokenizer train", …).
    static let commands: [Command.Type] = allCommands

    public static func run(_ argv: [String]) -> Int32 {
        if argv.isEmpty || argv[0] == "help" || argv[0] == "--help" || argv[0] == "-h" {
            if argv.count >= 2, let c = find(Array(argv.dropFirst())) {
                print(c.command.spec.helpText, terminator: "")
            } else {
                print(overview, terminator: "")
            }
            return 0
        }
        if argv[0] == "--version" || argv[0] == "version" { print("tllm \(TLLMVersion.string)"); return 0 }
        guard let (command, consumed) = find(argv) else {
            let groups = Set(commands.map { $0.spec.name.split(separator: " ")[0] })
            if groups.contains(Substring(argv[0])) {
                let subs = commands.filter { $0.spec.name.hasPrefix(argv[0] + " ") }.map { $0.spec.name }
                FileHandle.standardError.write(Data("tllm \(argv[0]): expected one of: \(subs.joined(separator: ", "))\n".utf8))
            } else {
                FileHandle.standardError.write(Data("tllm: unknown command '\(argv[0])' (try 'tllm help')\n".utf8))
            }
            return 2
        }
        if let s = ProcessInfo.processInfo.environment["TLLM_THREADS"], !s.isEmpty, (Int(s) ?? 0) < 1 {
            FileHandle.standardError.write(Data("tllm: TLLM_THREADS must be a positive integer, got '\(s)'\n".utf8))
            return 2
        }
        do {
            let args = try Arguments(Array(argv.dropFirst(consumed)), spec: command.spec)
            if args.wantsHelp { print(command.spec.helpText, terminator: ""); return 0 }
            try command.run(args)
            return 0
        } catch let e as CLIError {
            FileHandle.standardError.write(Data("\(e.description)\n".utf8))
            return 2
        } catch let e as TLLMError {
            FileHandle.standardError.write(Data("tllm: \(e.description)\n".utf8))
            return 1
        } catch let e as ExitRequest {
            return e.code
        } catch {
            FileHandle.standardError.write(Data("tllm: \(error)\n".utf8))
            return 1
        }
    }

    /// The longest command name matching the leading words of `argv`.
    static func find(_ argv: [String]) -> (command: Command.Type, consumed: Int)? {
        var best: (Command.Type, Int)? = nil
        for c in commands {
            let words = c.spec.name.split(separator: " ").map(String.init)
            if words.count <= argv.count && Array(argv.prefix(words.count)) == words {
                if best == nil || words.count > best!.1 { best = (c, words.count) }
            }
        }
        return best
    }

    static var overview: String {
        var s = "tllm \(TLLMVersion.string) — train, evaluate and study small language models on a CPU\n\n"
        s += "Usage: tllm <command> [subcommand] [--flag value]…\n\nCommands:\n"
        let width = commands.map { $0.spec.name.count }.max() ?? 10
        for c in commands {
            s += "  \(c.spec.name)\(String(repeating: " ", count: width - c.spec.name.count + 2))\(c.spec.summary)\n"
        }
        s += "\n'tllm <command> --help' describes a command's flags. Global: TLLM_THREADS=N (or --threads N).\n"
        return s
    }
}

/// Thrown by a command that has already reported and wants a specific exit code.
struct ExitRequest: Error { var code: Int32 }

enum TLLMVersion { static let string = "0.1.0" }
