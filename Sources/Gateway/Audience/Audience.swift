import Synchronization

/// Who watches this node's live sessions and how it goes for them: viewer counts from playback
/// requests (`viewers`), player QoE from CMCD (`players`), and counts of the CMCD received. Nothing
/// here is logged or appended to the event log; readers (the stream listing, later the session
/// report and metrics) ask.
public final class Audience: Sendable {
    public let viewers: ViewerTracker
    public let players: QoETracker
    private let requestsWithCMCD = Atomic<Int>(0)
    private let malformedRequests = Atomic<Int>(0)
    private let eventReports = Atomic<Int>(0)
    private let rejectedBodies = Atomic<Int>(0)
    private let unattributedReports = Atomic<Int>(0)

    /// What CMCD this node received since it started.
    public struct CMCDCounts: Sendable, Hashable, Codable {
        /// Playback requests that carried CMCD (query or headers), well-formed or not.
        public var requests: Int
        /// Of them, those whose CMCD was malformed or over a limit, and so ignored.
        public var malformed: Int
        /// Event reports accepted by `POST /v1/cmcd`.
        public var events: Int
        /// Event report bodies refused whole (400).
        public var rejectedBodies: Int
        /// Event reports without a `sid`, or of a player on no live session known here, ignored.
        public var unattributed: Int
    }

    public init(viewers: ViewerTracker.Configuration = .init(), players: QoETracker.Configuration = .init()) {
        self.viewers = ViewerTracker(configuration: viewers)
        self.players = QoETracker(configuration: players)
    }

    /// The CMCD of a playback request (`CMCDParser.parse(query:request:object:status:session:)`),
    /// counted; the report when it is well-formed.
    public func received(_ cmcd: Result<CMCDReport, CMCDError>?) -> CMCDReport? {
        guard let cmcd else { return nil }
        requestsWithCMCD.add(1, ordering: .relaxed)
        switch cmcd {
        case .success(let report):
            return report
        case .failure:
            malformedRequests.add(1, ordering: .relaxed)
            return nil
        }
    }

    /// A fetch of one of live session `session`'s playlists or media files: counts its client as a
    /// viewer (by the report's `sid` when it has one, else by `client`) and folds its CMCD in.
    public func watched(
        session: String, channel: String, segmentTarget: Double, client: @autoclosure () -> ViewerID, cmcd: CMCDReport? = nil,
        now: ContinuousClock.Instant = .now
    ) {
        let viewer = cmcd?.sessionID.map { ViewerID.player(sessionID: $0) } ?? client()
        viewers.record(viewer, session: session, channel: channel, window: viewers.window(segmentTarget: segmentTarget), now: now)
        if let cmcd { players.record(cmcd, session: session, channel: channel, now: now) }
    }

    /// Event reports of one accepted body, each with the live session it belongs to (nil when
    /// none is known).
    public func reported(
        _ reports: [(report: CMCDReport, session: (session: String, channel: String)?)], now: ContinuousClock.Instant = .now
    ) {
        for (report, session) in reports {
            eventReports.add(1, ordering: .relaxed)
            guard let session, players.record(report, session: session.session, channel: session.channel, now: now) else {
                unattributedReports.add(1, ordering: .relaxed)
                continue
            }
        }
    }

    /// An event report body refused whole.
    public func refusedReportBody() {
        rejectedBodies.add(1, ordering: .relaxed)
    }

    public var cmcd: CMCDCounts {
        CMCDCounts(
            requests: requestsWithCMCD.load(ordering: .relaxed), malformed: malformedRequests.load(ordering: .relaxed),
            events: eventReports.load(ordering: .relaxed), rejectedBodies: rejectedBodies.load(ordering: .relaxed),
            unattributed: unattributedReports.load(ordering: .relaxed))
    }
}
