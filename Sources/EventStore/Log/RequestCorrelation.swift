import Foundation

/// The request an append is made for (the gateway's `X-Request-Id`), stamped on events whose
/// metadata names no correlation: set around a request's handler and a chat socket's life, it
/// reaches the events appended below them (a chat post, a moderation, a kick) without every API
/// taking ids. Unstructured tasks started inside inherit it; detached ones and the node's own
/// services do not.
public enum RequestCorrelation {
    public struct Value: Sendable, Hashable {
        public var correlationId: UUID
        public var requestId: String?

        public init(correlationId: UUID, requestId: String?) {
            self.correlationId = correlationId
            self.requestId = requestId
        }
    }

    @TaskLocal public static var current: Value?

    /// `events` with the current request's ids where they name no correlation of their own.
    static func stamp(_ events: [NewEvent]) -> [NewEvent] {
        guard let current else { return events }
        return events.map { event in
            guard event.metadata.correlationId == nil else { return event }
            var event = event
            event.metadata.correlationId = current.correlationId
            if event.metadata.requestId == nil { event.metadata.requestId = current.requestId }
            return event
        }
    }
}
