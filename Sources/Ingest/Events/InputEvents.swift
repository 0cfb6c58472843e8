import EventStore

/// Which publish of a channel an encoder is: the backup publishes with `?role=backup`
/// (RTMP) or `role=backup` in its SRT stream id.
public enum IngestInputRole: String, Sendable, Hashable, Codable, CaseIterable {
    case primary
    case backup
}

/// Where a session's media comes from at a moment: one of its inputs, or the standby slate.
public enum InputSource: String, Sendable, Hashable, Codable {
    case primary
    case backup
    case slate

    init(_ role: IngestInputRole) {
        switch role {
        case .primary: self = .primary
        case .backup: self = .backup
        }
    }

    /// The input it is; nil for the slate.
    var role: IngestInputRole? { IngestInputRole(rawValue: rawValue) }
}

/// The session's media switched from one input to another (or to or from the slate).
public struct InputSwitched: DomainEvent, Hashable {
    public static let eventType = "InputSwitched"

    public enum Reason: String, Sendable, Hashable, Codable {
        /// The input that was playing disconnected.
        case inputDisconnected = "input_disconnected"
        /// The input that was playing sent no media for the stall threshold.
        case inputStalled = "input_stalled"
        /// The quality machine put the session in ERROR while another input was healthy.
        case qualityError = "quality_error"
        /// The primary has been healthy again for the switch-back delay.
        case primaryRecovered = "primary_recovered"
        /// Nothing was playing (the session's first input, or an input after the slate).
        case inputAvailable = "input_available"
    }

    public var sessionID: String
    public var channelID: String
    /// `nil` when nothing was playing.
    public var from: InputSource?
    public var to: InputSource
    public var reason: Reason
    /// Time since the last media of the input switched away from, when it had any.
    public var silentMilliseconds: Int?
    /// Whether the switch is an `EXT-X-DISCONTINUITY` in the playlists: nothing played between.
    public var discontinuity: Bool

    public init(
        sessionID: String, channelID: String, from: InputSource?, to: InputSource, reason: Reason, silentMilliseconds: Int?,
        discontinuity: Bool
    ) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.from = from
        self.to = to
        self.reason = reason
        self.silentMilliseconds = silentMilliseconds
        self.discontinuity = discontinuity
    }
}

/// Every input of a live session is gone: the standby slate plays until one returns or the
/// grace window ends.
public struct SlateStarted: DomainEvent, Hashable {
    public static let eventType = "SlateStarted"

    public var sessionID: String
    public var channelID: String
    public var width: Int?
    public var height: Int?

    public init(sessionID: String, channelID: String, width: Int?, height: Int?) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.width = width
        self.height = height
    }
}

public struct SlateEnded: DomainEvent, Hashable {
    public static let eventType = "SlateEnded"

    public enum Reason: String, Sendable, Hashable, Codable {
        case inputReturned = "input_returned"
        case sessionEnded = "session_ended"
    }

    public var sessionID: String
    public var channelID: String
    public var reason: Reason
    public var durationSeconds: Double

    public init(sessionID: String, channelID: String, reason: Reason, durationSeconds: Double) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.reason = reason
        self.durationSeconds = durationSeconds
    }
}
