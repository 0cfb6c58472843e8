import Media
import Synchronization

/// The latest video keyframe of one live session and the track (codec configuration) it decodes
/// with, kept for `LiveThumbnails`. The media path feeds it (`tapping(_:)`); keeping a keyframe is a
/// reference swap under a lock: its bytes are shared with the packet, never copied or decoded there.
public final class ThumbnailTap: Sendable {
    public let channel: String

    /// A keyframe and what decodes it; `sequence` counts the session's keyframes from 1.
    struct Keyframe: Sendable {
        var packet: MediaPacket
        var track: TrackInfo
        var sequence: UInt64
    }

    private struct State {
        var track: TrackInfo?
        var keyframe: Keyframe?
        var count: UInt64 = 0
    }

    private let state = Mutex(State())

    init(channel: String) {
        self.channel = channel
    }

    var latest: Keyframe? { state.withLock { $0.keyframe } }

    /// Keeps `item` if it is a video keyframe (with the video track last announced) or a video track.
    public func observe(_ item: MediaItem) {
        switch item {
        case .track(let track) where track.kind == .video:
            state.withLock { $0.track = track }
        case .packet(let packet) where packet.track == .video && packet.isKeyframe:
            // The replaced keyframe is returned so that its bytes are released after the lock.
            _ = state.withLock { state -> Keyframe? in
                guard let track = state.track else { return nil }
                state.count += 1
                let replaced = state.keyframe
                state.keyframe = Keyframe(packet: packet, track: track, sequence: state.count)
                return replaced
            }
        default:
            break
        }
    }

    /// `media`, each item passed to `observe(_:)` as the consumer takes it.
    public func tapping<Base: AsyncSequence>(_ media: Base) -> TappedMedia<Base> where Base.Element == MediaItem {
        TappedMedia(base: media, tap: self)
    }
}

/// A media sequence whose items also go to a `ThumbnailTap`.
public struct TappedMedia<Base: AsyncSequence>: AsyncSequence where Base.Element == MediaItem {
    public typealias Element = MediaItem
    public typealias Failure = Base.Failure
    let base: Base
    let tap: ThumbnailTap

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let tap: ThumbnailTap

        public mutating func next() async throws(Base.Failure) -> MediaItem? {
            try await next(isolation: nil)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(Base.Failure) -> MediaItem? {
            guard let item = try await base.next(isolation: actor) else { return nil }
            tap.observe(item)
            return item
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), tap: tap)
    }
}

extension TappedMedia: Sendable where Base: Sendable {}
