import Foundation

public enum EventStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    case wrongExpectedVersion(stream: String, expected: ExpectedVersion, actual: Int64)
    /// Some of an append's event ids are in the log already, but not as this same append.
    case idempotencyConflict(stream: String, eventId: UUID, detail: String)
    /// The database could not be reached or the connection broke. An append may be retried with
    /// the same event ids (idempotent); a read or an open changed nothing.
    case unavailable(String, whileAppending: Bool = true)
    case emptyAppend(stream: String)
    case invalidStreamId(String)
    case unknownEventType(String)
    case undecodable(type: String, position: Int64, reason: String)
    case migration(String)
    case database(String)

    public var description: String {
        switch self {
        case .wrongExpectedVersion(let stream, let expected, let actual):
            "append to \(stream) expected \(expected) but the stream is at version \(actual); reload it and retry"
        case .idempotencyConflict(let stream, let eventId, let detail):
            "event id \(eventId) for \(stream) is already in the log as a different append (\(detail)); use fresh event ids for new events"
        case .unavailable(let reason, whileAppending: true):
            "the event log's database is unavailable (\(reason)); the append was not confirmed: retry it with the same event ids"
        case .unavailable(let reason, whileAppending: false):
            "the event log's database is unavailable (\(reason)); nothing was changed: retry once it is back"
        case .emptyAppend(let stream):
            "an append to \(stream) needs at least one event"
        case .invalidStreamId(let id):
            "invalid stream id \"\(id)\": use 1-200 characters, letters, digits and -_.:"
        case .unknownEventType(let type):
            "no event type \(type) is registered"
        case .undecodable(let type, let position, let reason):
            "event \(type) at position \(position) could not be decoded: \(reason)"
        case .migration(let reason):
            reason
        case .database(let reason):
            "database error: \(reason)"
        }
    }
}
