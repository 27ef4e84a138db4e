import Foundation
import TLLMCore

/// The command-line program: finds the command, parses its options (every value checked before
/// anything runs), sets up the runtime once (OpenBLAS kernels, thread count), runs it, and turns
/// errors into one line on stderr and an exit code (2: usage, 1: failure, 130: interrupted).
public enum CLI {
    public static func run(_ argv: [String]) -> Int32 {
        if argv.isEmpty || ["help", "--help", "-h"].contains(argv[0]) {
            if argv.count >= 2, let c = find(Array(argv.dropFirst())) { print(c.command.helpText, terminator: "") } else { print(overview, terminator: "") }
            return 0
        }
        if argv[0] == "--version" || argv[0] == "version" { print("tllm \(TLLMVersion.string)"); return 0 }
        guard let (command, consumed) = find(argv) else { return unknownCommand(argv[0]) }
        if let s = ProcessInfo.processInfo.environment["TLLM_THREADS"], !s.isEmpty, (Int(s) ?? 0) < 1 {
            return fail("tllm: TLLM_THREADS must be a positive integer, got '\(s)'", code: 2)
        }
        do {
            guard let parsed = try command.parse(Array(argv.dropFirst(consumed))) else { print(command.helpText, terminator: ""); return 0 }
            prepareRuntime(parsed)
            try parsed.run()
            return 0
        } catch let e as CLIError {
            return fail(e.description, code: 2)
        } catch let e as TLLMError {
            return fail("tllm: \(e.description)", code: 1)
        } catch let e as ExitRequest {
            return e.code
        } catch let e as CocoaError {
            let path = (e.userInfo[NSFilePathErrorKey] as? String) ?? e.filePath ?? ""
            return fail("tllm: \(path.isEmpty ? "" : path + ": ")\(reason(e))", code: 1)
        } catch {
            return fail("tllm: \(error.localizedDescription)", code: 1)
        }
    }

    /// The preamble every command shares: OpenBLAS's kernels for this CPU, and `--threads`.
    static func prepareRuntime(_ command: ParsableCommand) {
        BLASRuntime.prepare()
        if let t = CommandOptions(command).runtime?.threads { Threading.set(t) }
    }

    /// A file-system error in tllm's words.
    static func reason(_ e: CocoaError) -> String {
        switch e.code {
        case .fileWriteFileExists: return "already exists (tllm does not overwrite it)"
        case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or folder"
        case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
        case .fileWriteOutOfSpace: return "the disk is full"
        case .fileWriteVolumeReadOnly: return "the volume is read-only"
        default: return "file-system error \(e.code.rawValue)"
        }
    }

    static func fail(_ message: String, code: Int32) -> Int32 {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return code
    }

    static func unknownCommand(_ word: String) -> Int32 {
        let groups = Set(allCommands.map { $0.info.name.split(separator: " ")[0] })
        if groups.contains(Substring(word)) {
            let subs = allCommands.filter { $0.info.name.hasPrefix(word + " ") }.map { $0.info.name }
            return fail("tllm \(word): expected one of: \(subs.joined(separator: ", "))", code: 2)
        }
        return fail("tllm: unknown command '\(word)' (try 'tllm help')", code: 2)
    }

    /// The longest command name matching the leading words of `argv`.
    static func find(_ argv: [String]) -> (command: ParsableCommand.Type, consumed: Int)? {
        var best: (ParsableCommand.Type, Int)? = nil
        for c in allCommands {
            let words = c.info.name.split(separator: " ").map(String.init)
            if words.count <= argv.count && Array(argv.prefix(words.count)) == words, best == nil || words.count > best!.1 {
                best = (c, words.count)
            }
        }
        return best
    }

    static var overview: String {
        var s = "tllm \(TLLMVersion.string) — train, evaluate and study small language models on a CPU\n\n"
        s += "Usage: tllm <command> [subcommand] [--flag value]…\n\nCommands:\n"
        let width = allCommands.map { $0.info.name.count }.max() ?? 10
        for c in allCommands {
            s += "  \(c.info.name)\(String(repeating: " ", count: width - c.info.name.count + 2))\(c.info.summary)\n"
        }
        s += "\n'tllm <command> --help' describes a command's flags. Global: TLLM_THREADS=N (or --threads N).\n"
        return s
    }
}

enum TLLMVersion { static let string = "0.2.0" }
