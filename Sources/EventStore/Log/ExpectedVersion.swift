/// What an append expects of its stream's current version (optimistic concurrency).
public enum ExpectedVersion: Sendable, Hashable, CustomStringConvertible {
    /// The stream must not exist yet.
    case noStream
    /// The stream's last event must have exactly this version.
    case exact(Int64)
    /// No check.
    case any

    func admits(_ actual: Int64) -> Bool {
        switch self {
        case .noStream: actual == 0
        case .exact(let version): actual == version
        case .any: true
        }
    }

    public var description: String {
        switch self {
        case .noStream: "no stream"
        case .exact(let version): "version \(version)"
        case .any: "any version"
        }
    }
}

/// Where an append landed.
public struct AppendResult: Sendable, Hashable {
    /// Global positions of the appended events, in order.
    public var positions: [Int64]
    /// The stream's version after the append.
    public var streamVersion: Int64
    /// True when every event id was already in the log: nothing was written.
    public var wasDuplicate: Bool
    /// True when the database was away and the append went to the local spool: it reaches the
    /// log, with these event ids, once the database is back (`positions` is empty until then).
    public var spooled = false

    public var lastPosition: Int64 { positions.last ?? 0 }
}
