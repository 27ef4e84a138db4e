import Foundation

/// Finds tllm's bundled folders (`vocab/`, `corpora/`, `evals/`) wherever tllm runs from.
///
/// Order: `$TLLM_HOME`, the current directory and its parents, then the executable's directory
/// and its parents (a build at `.build/release/tllm` finds the checkout it was built from).
public enum ResourceLocator {
    /// The first existing `relative` path under the search roots.
    public static func find(_ relative: String) -> URL? {
        let fm = FileManager.default
        for root in roots() {
            let u = root.appendingPathComponent(relative)
            if fm.fileExists(atPath: u.path) { return u }
        }
        return nil
    }

    /// The project root (the first search root holding `vocab/` or `corpora/`).
    public static var projectRoot: URL? {
        let fm = FileManager.default
        for r in roots() where fm.fileExists(atPath: r.appendingPathComponent("vocab").path)
            || fm.fileExists(atPath: r.appendingPathComponent("corpora").path) {
            return r
        }
        return nil
    }

    static func roots() -> [URL] {
        var out: [URL] = []
        if let h = ProcessInfo.processInfo.environment["TLLM_HOME"] { out.append(URL(fileURLWithPath: h)) }
        func ancestors(_ start: URL) {
            var u = start.standardizedFileURL
            for _ in 0..<8 {
                out.append(u)
                let parent = u.deletingLastPathComponent()
                if parent.path == u.path { break }
                u = parent
            }
        }
        ancestors(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            ancestors(URL(fileURLWithPath: p).deletingLastPathComponent())
        }
        ancestors(exe.deletingLastPathComponent())
        return out
    }
}
