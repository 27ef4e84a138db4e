import Foundation

/// Progress on stderr: one live line on a terminal, plain periodic lines otherwise.
public final class ProgressDisplay {
    public let isTerminal: Bool
    var lastPlain = 0.0
    var live = false

    public init(forceLines: Bool = false) {
        isTerminal = !forceLines && isatty(STDERR_FILENO) != 0
    }

    /// Updates the live line (terminal) or prints a line every `interval` seconds at most (pipes, CI).
    public func update(_ text: String, force: Bool = false, interval: Double = 10) {
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            live = true
        } else {
            let now = Date().timeIntervalSince1970
            if force || now - lastPlain >= interval {
                FileHandle.standardError.write(Data("\(text)\n".utf8))
                lastPlain = now
            }
        }
    }

    /// Prints a message on its own line (after the live line, if any).
    public func message(_ text: String) {
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); live = false }
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }

    /// Ends the live line.
    public func finish() {
        if live { FileHandle.standardError.write(Data("\n".utf8)); live = false }
    }
}

/// "1h 02m", "4m 05s", "12s".
public func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let t = Int(s.rounded())
    if t >= 3600 { return String(format: "%dh %02dm", t / 3600, (t % 3600) / 60) }
    if t >= 60 { return String(format: "%dm %02ds", t / 60, t % 60) }
    return "\(t)s"
}

/// Ctrl-C handling: the first SIGINT sets a flag the training loop checks after each step (it
/// saves a checkpoint and exits cleanly); a second one exits at once.
public enum Interrupt {
    nonisolated(unsafe) static var flag: Int32 = 0

    public static var requested: Bool { flag != 0 }

    public static func install() {
        flag = 0
        signal(SIGINT) { _ in
            if Interrupt.flag != 0 { _exit(130) }
            Interrupt.flag = 1
        }
        signal(SIGTERM) { _ in
            if Interrupt.flag != 0 { _exit(143) }
            Interrupt.flag = 1
        }
    }

    public static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// 10_050_000 → "10.05M".
public func formatCount(_ n: Int) -> String {
    let x = Double(n)
    if x >= 1e9 { return String(format: "%.3gG", x / 1e9) }
    if x >= 1e6 { return String(format: "%.3gM", x / 1e6) }
    if x >= 1e3 { return String(format: "%.3gK", x / 1e3) }
    return "\(n)"
}
