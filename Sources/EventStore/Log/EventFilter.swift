import Foundation

/// Which events a read or subscription wants; every field narrows.
public struct EventFilter: Sendable, Hashable {
    public var streamPrefix: String?
    public var types: [String]?
    public var since: Date?
    public var until: Date?
    /// `kind` or `kind:id` of the metadata's actor (`admin`, `encoder:203.0.113.9:50000`).
    public var actor: String?
    public var correlationId: UUID?

    public init(
        streamPrefix: String? = nil, types: [String]? = nil, since: Date? = nil, until: Date? = nil, actor: String? = nil,
        correlationId: UUID? = nil
    ) {
        self.streamPrefix = streamPrefix
        self.types = types
        self.since = since
        self.until = until
        self.actor = actor
        self.correlationId = correlationId
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
