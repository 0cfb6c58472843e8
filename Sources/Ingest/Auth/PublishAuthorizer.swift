import Channels
import EventStore
import Foundation

/// Checks a stream key. The integrator implements it over the channels/stream-keys projection.
public protocol PublishAuthorizer: Sendable {
    func authorize(app: String, streamKey: String, remote: String) async -> PublishAuthorization
}

public enum PublishAuthorization: Sendable, Hashable {
    case accepted(channelID: String, channelName: String)
    case refused(PublishRefusalReason)

    /// What a key's check in the channels aggregate means for a publish; one mapping for the
    /// database-backed check (RTMP) and the in-memory table (SRT's listen callback).
    public init(_ check: StreamKeyCheck) {
        switch check {
        case .valid(let channelId, let channel):
            self = .accepted(channelID: channelId.uuidString.lowercased(), channelName: channel)
        case .revoked(let channel, let at, let by, _):
            self = .refused(.revokedKey(channelID: nil, channelName: channel, revokedAt: at, revokedBy: by))
        case .unknown:
            self = .refused(.unknownKey)
        }
    }
}

/// Why a publish was refused; carried by `PublishRejected` and shown to the encoder.
public enum PublishRefusalReason: Sendable, Hashable, Codable {
    case unknownKey
    /// The key was revoked; when and by whom if known.
    case revokedKey(channelID: String?, channelName: String?, revokedAt: Date?, revokedBy: String?)
    case channelAlreadyLive(channelID: String, channelName: String)
    /// A backup publish (`role=backup`) while another backup is publishing.
    case backupAlreadyLive(channelID: String, channelName: String)
    /// Live on another node of the cluster (its URL).
    case liveOnAnotherNode(channelID: String, channelName: String, node: String)
    /// The deployment's publish hook said no (`PublishAdmission`), for this reason.
    case admissionRefused(channelID: String, channelName: String, reason: String)
    case malformedRequest(String)
    case tooManyFailedAttempts(retryAfterSeconds: Int)
    case serverFull(limit: Int)
    /// The key could not be checked (the database is unreachable); the encoder should retry.
    case unavailable(String)

    /// The status code the encoder sees.
    public var statusCode: String {
        switch self {
        case .unknownKey, .revokedKey, .channelAlreadyLive, .backupAlreadyLive, .liveOnAnotherNode, .admissionRefused, .malformedRequest:
            "NetStream.Publish.BadName"
        case .tooManyFailedAttempts, .serverFull, .unavailable: "NetConnection.Connect.Rejected"
        }
    }

    /// What the encoder's log shows: what happened and what to do.
    public var message: String {
        switch self {
        case .unknownKey:
            return "unknown stream key; copy the key from your channel's dashboard into the encoder"
        case .revokedKey(_, _, let at, let by):
            var text = "stream key revoked"
            if let at { text += " at \(ISO8601DateFormatter().string(from: at))" }
            if let by { text += " by \(by)" }
            return text + "; use the channel's current key from the dashboard"
        case .channelAlreadyLive:
            return
                "this channel is already live from another encoder; stop that encoder or wait for its session to end (a backup encoder publishes with ?role=backup)"
        case .backupAlreadyLive:
            return "this channel already has a backup encoder publishing; stop that one first (one primary and one backup per channel)"
        case .liveOnAnotherNode(_, _, let node):
            return "this channel is already live on node \(node); stop that encoder or wait for its session to end"
        case .admissionRefused(_, _, let reason):
            return "the platform refused this publish: \(reason)"
        case .malformedRequest(let detail):
            return "malformed publish request: \(detail)"
        case .tooManyFailedAttempts(let seconds):
            return "too many failed stream key attempts from your address; try again in \(seconds) s with the key from your dashboard"
        case .serverFull(let limit):
            return "the server is at its limit of \(limit) concurrent publishers; try again later"
        case .unavailable(let detail):
            return "the server cannot check stream keys right now (\(detail)); retry in a few seconds"
        }
    }

    /// The reason's stable name in events and metrics.
    public var name: String {
        switch self {
        case .unknownKey: "unknown_key"
        case .revokedKey: "revoked_key"
        case .channelAlreadyLive, .liveOnAnotherNode: "channel_already_live"
        case .backupAlreadyLive: "backup_already_live"
        case .admissionRefused: "admission_refused"
        case .malformedRequest: "malformed_request"
        case .tooManyFailedAttempts: "too_many_failed_attempts"
        case .serverFull: "server_full"
        case .unavailable: "unavailable"
        }
    }

    /// The channel the refusal is about, when known.
    public var channelID: String? {
        switch self {
        case .revokedKey(let channel, _, _, _): channel
        case .channelAlreadyLive(let channel, _), .backupAlreadyLive(let channel, _), .liveOnAnotherNode(let channel, _, _),
            .admissionRefused(let channel, _, _):
            channel
        default: nil
        }
    }

    /// The name of the channel the refusal is about, when known: the refusal is then recorded in
    /// the channel's stream (`channel-NAME`) beside the rest of its history.
    public var channelName: String? {
        switch self {
        case .revokedKey(_, let name, _, _): name
        case .channelAlreadyLive(_, let name), .backupAlreadyLive(_, let name), .liveOnAnotherNode(_, let name, _),
            .admissionRefused(_, let name, _):
            name
        default: nil
        }
    }

    /// Where a refusal from `host` is recorded: the channel's stream when it names one, the
    /// address's otherwise (an unknown key names nothing a stranger could not make up).
    public func stream(host: String) -> String {
        channelName.map { "channel-\($0)" } ?? "ingest-\(host)"
    }

    /// Whether this counts as a failed key attempt for the per-address limiter.
    var countsAsFailedAttempt: Bool {
        switch self {
        case .unknownKey, .revokedKey: true
        default: false
        }
    }
}
