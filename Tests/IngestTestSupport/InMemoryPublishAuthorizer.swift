import Foundation
import Ingest
import Synchronization

/// A key table in memory, for tests and for running without the channels projection.
public final class InMemoryPublishAuthorizer: PublishAuthorizer, ImmediatePublishAuthorizer {
    public struct Channel: Sendable, Hashable {
        public var id: String
        public var name: String

        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    private struct Table {
        var keys: [String: Channel] = [:]
        var revoked: [String: (channel: Channel, at: Date, by: String)] = [:]
    }

    private let table = Mutex(Table())

    public init(keys: [String: Channel] = [:]) {
        table.withLock { $0.keys = keys }
    }

    public func add(key: String, channel: Channel) {
        table.withLock { $0.keys[key] = channel }
    }

    public func revoke(key: String, at date: Date = Date(), by actor: String) {
        table.withLock { table in
            if let channel = table.keys.removeValue(forKey: key) { table.revoked[key] = (channel, date, actor) }
        }
    }

    public func authorize(app: String, streamKey: String, remote: String) async -> PublishAuthorization {
        authorizeNow(app: app, streamKey: streamKey, remote: remote)
    }

    public func authorizeNow(app: String, streamKey: String, remote: String) -> PublishAuthorization {
        table.withLock { table in
            if let channel = table.keys[streamKey] { return .accepted(channelID: channel.id, channelName: channel.name) }
            if let revoked = table.revoked[streamKey] {
                return .refused(
                    .revokedKey(
                        channelID: revoked.channel.id, channelName: revoked.channel.name, revokedAt: revoked.at, revokedBy: revoked.by))
            }
            return .refused(.unknownKey)
        }
    }
}
