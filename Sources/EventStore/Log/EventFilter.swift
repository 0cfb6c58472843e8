import Foundation

/// Which events a read or subscription wants; every field narrows.
public struct EventFilter: Sendable, Hashable {
    /// Exactly this stream (`channel-demo`, not `channel-demo2`).
    public var stream: String?
    public var streamPrefix: String?
    /// Up to and including this position.
    public var toPosition: Int64?
    public var types: [String]?
    public var since: Date?
    public var until: Date?
    /// `kind` or `kind:id` of the metadata's actor (`admin`, `encoder:203.0.113.9:50000`).
    public var actor: String?
    public var correlationId: UUID?
    /// Events whose metadata names this event id as their cause.
    public var causationId: UUID?

    public init(
        stream: String? = nil, streamPrefix: String? = nil, types: [String]? = nil, since: Date? = nil, until: Date? = nil,
        actor: String? = nil, correlationId: UUID? = nil, causationId: UUID? = nil, toPosition: Int64? = nil
    ) {
        self.stream = stream
        self.streamPrefix = streamPrefix
        self.types = types
        self.since = since
        self.until = until
        self.actor = actor
        self.correlationId = correlationId
        self.causationId = causationId
        self.toPosition = toPosition
    }

    public static let all = EventFilter()
}

public enum StreamId {
    /// Stream ids are plain names so that they read well in listings and never need quoting.
    public static func validate(_ id: String) throws {
        guard !id.isEmpty, id.utf8.count <= 200,
            id.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.:".unicodeScalars.contains($0)) })
        else { throw EventStoreError.invalidStreamId(id) }
    }
}
