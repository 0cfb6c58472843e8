import Channels
import EventStore
import Foundation

/// Checks stream keys against the `stream_keys` read model of the channel aggregate.
public struct ChannelKeyAuthorizer: PublishAuthorizer {
    let channels: ChannelService

    public init(channels: ChannelService) { self.channels = channels }

    public func authorize(app: String, streamKey: String, remote: String) async -> PublishAuthorization {
        guard !streamKey.isEmpty, streamKey.utf8.count <= 256 else { return .refused(.unknownKey) }
        do {
            return PublishAuthorization(try await channels.check(key: streamKey))
        } catch {
            return .refused(.unavailable("\(error)"))
        }
    }
}
