#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`). Every client socket costs a descriptor, and so
/// does every segment file and database connection: `serve` raises the soft limit to the hard one
/// at start, so a default soft limit of 1,024 is not what a thousand idle sockets exhaust.
public enum OpenFileLimit {
    public struct Figures: Sendable, Hashable {
        public var soft: Int
        public var hard: Int
    }

    public static func current() -> Figures? {
        var limit = rlimit()
        guard getrlimit(resourceLimit, &limit) == 0 else { return nil }
        return Figures(soft: clamp(limit.rlim_cur), hard: clamp(limit.rlim_max))
    }

    /// Raises the soft limit to the hard limit; returns the figures before and after (after equals
    /// before when the kernel refused).
    public static func raiseToHard() -> (before: Figures, after: Figures)? {
        var limit = rlimit()
        guard getrlimit(resourceLimit, &limit) == 0 else { return nil }
        let before = Figures(soft: clamp(limit.rlim_cur), hard: clamp(limit.rlim_max))
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(resourceLimit, &limit) == 0 else { return (before, before) }
        return (before, current() ?? before)
    }

    private static func clamp(_ value: rlim_t) -> Int {
        value > rlim_t(Int.max) ? Int.max : Int(value)
    }

    #if canImport(Glibc)
    private static let resourceLimit = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceLimit = RLIMIT_NOFILE
    #endif
}
