import Synchronization

/// The live streams this node packages, by channel name: what `/live/CHANNEL/…` serves.
public final class PlaybackDirectory: Sendable {
    private let streams = Mutex<[String: StreamPackager]>([:])

    public init() {}

    public func stream(channel: String) -> StreamPackager? {
        streams.withLock { $0[channel] }
    }

    public func register(_ stream: StreamPackager) {
        streams.withLock { $0[stream.identity.channelName] = stream }
    }

    /// Removes `stream` if it is still the channel's current one.
    public func unregister(_ stream: StreamPackager) {
        streams.withLock {
            if $0[stream.identity.channelName] === stream { $0[stream.identity.channelName] = nil }
        }
    }

    public var all: [StreamPackager] { streams.withLock { Array($0.values) } }
}
