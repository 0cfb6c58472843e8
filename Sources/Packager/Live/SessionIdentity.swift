import Foundation
import Synchronization

/// Which live session a packager serves; names its files, events and URLs.
public struct SessionIdentity: Sendable, Hashable {
    /// Lowercased UUID, as in `session-ID` event streams and `/vod/ID/` URLs.
    public var sessionID: String
    public var channelID: String
    public var channelName: String

    public init(sessionID: String, channelID: String, channelName: String) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.channelName = channelName
    }
}

/// Maps media time to wall-clock time for `EXT-X-PROGRAM-DATE-TIME`, one anchor per continuous run
/// of the source: every rendition of a session uses the same anchor, so their dates agree, and an
/// encoder reconnect (a discontinuity) starts a new anchor so the dates follow the real gap.
final class TimeAnchor: Sendable {
    private struct Anchor { var epoch: Int; var wall: Date; var media: Double }
    private let state = Mutex<[Int: Anchor]>([:])

    /// The wall-clock time of media time `media` in continuity run `epoch`; the first caller of a
    /// run anchors it at `now` for a part that started at `media` and lasted `duration`.
    func date(epoch: Int, media: Double, duration: Double, now: Date = Date()) -> Date {
        state.withLock { anchors in
            let anchor =
                anchors[epoch]
                ?? {
                    let new = Anchor(epoch: epoch, wall: now.addingTimeInterval(-duration), media: media)
                    anchors[epoch] = new
                    return new
                }()
            return anchor.wall.addingTimeInterval(media - anchor.media)
        }
    }
}
