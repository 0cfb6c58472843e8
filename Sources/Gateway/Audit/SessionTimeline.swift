import Channels
import Chat
import EventStore
import Foundation
import Ingest
import Quality
import Transcode

/// A session's story in human terms, one line per event, each citing the event's position: the
/// publish, refusals, quality changes with their figures and reasons, renditions, reconnects, key
/// revocations and kicks, moderation in its chat room, the end (`streamd events timeline`).
public struct SessionTimeline: Sendable, Codable, Hashable {
    public struct Line: Sendable, Hashable, Codable {
        public var position: Int64
        public var at: Date
        /// published, refused, quality, rendition, resumed, key, kicked, ended, moderation, other
        public var kind: String
        public var eventType: String
        public var stream: String
        public var actor: String
        public var text: String
        /// The position of the event that led to this one: its causation id's, or for a kick, the
        /// key revocation it followed.
        public var cause: Int64?
    }

    public var sessionID: String
    public var channel: String
    public var startedAt: Date
    public var endedAt: Date?
    public var lines: [Line]

    /// The timeline of `events` (`SessionHistory.storyEvents`), from `since` on when given;
    /// `reasons`: moderators' sealed reasons, opened (`ModerationReasons`), by position.
    public static func make(
        _ span: SessionHistory.Span, events: [RecordedEvent], registry: EventRegistry, reasons: [Int64: String] = [:], since: Date? = nil
    ) -> Self {
        var byEventID: [UUID: Int64] = [:]
        var lastRevocation: RecordedEvent?
        var lines: [Line] = []
        for event in events {
            byEventID[event.eventId] = event.position
            var line = Line(
                position: event.position, at: event.recordedAt, kind: "other", eventType: event.eventType, stream: event.streamId,
                actor: event.metadata.actor.description, text: event.eventType,
                cause: event.metadata.causationId.flatMap { byEventID[$0] })
            describe(event, registry: registry, lastRevocation: lastRevocation, reason: reasons[event.position], into: &line)
            if event.eventType == StreamKeyRevoked.eventType { lastRevocation = event }
            if let since, event.recordedAt < since { continue }
            lines.append(line)
        }
        return SessionTimeline(
            sessionID: span.sessionID, channel: span.channelName, startedAt: span.started.recordedAt, endedAt: span.ended?.recordedAt,
            lines: lines)
    }

    /// The timeline as text: a heading, then `#position  time  kind  text` lines.
    public func render() -> String {
        var text = "session \(sessionID) on channel \(channel): started \(EventCoding.formatDate(startedAt))"
        if let endedAt {
            text += ", ended \(EventCoding.formatDate(endedAt)) (\(Self.duration(endedAt.timeIntervalSince(startedAt))))"
        } else {
            text += ", live"
        }
        text += "\n"
        let width = lines.map { String($0.position).count }.max() ?? 1
        for line in lines {
            let position = "#\(line.position)".padding(toLength: width + 1, withPad: " ", startingAt: 0)
            let kind = line.kind.padding(toLength: 10, withPad: " ", startingAt: 0)
            var entry = "\(position)  \(EventCoding.formatDate(line.at))  \(kind)  \(line.text)"
            if let cause = line.cause, !line.text.contains("#\(cause)") { entry += " (caused by #\(cause))" }
            text += entry + "\n"
        }
        return text
    }

    static func describe(
        _ event: RecordedEvent, registry: EventRegistry, lastRevocation: RecordedEvent?, reason opened: String? = nil, into line: inout Line
    ) {
        let actor = event.metadata.actor.description
        let reason = (opened ?? event.metadata.reason).map { ": \($0)" } ?? ""
        guard let decoded = try? registry.decode(event) else {
            line.text = "\(event.eventType) by \(actor)\(reason)"
            return
        }
        switch decoded {
        case let started as StreamStarted:
            line.kind = "published"
            var media: [String] = []
            if let video = started.video { media.append(Self.video(video)) }
            if let audio = started.audio { media.append(Self.audio(audio)) }
            if let encoder = started.encoder { media.append("encoder \(encoder)") }
            line.text =
                "published over \(started.protocol) from \(started.remoteAddress) to channel \(started.channelName)"
                + (media.isEmpty ? "" : " (\(media.joined(separator: "; ")))")
        case let rejected as PublishRejected:
            line.kind = "refused"
            line.text =
                "refused a publish from \(rejected.remoteAddress) over \(rejected.protocol): \(rejected.reason) (\(rejected.detail))"
        case let changed as QualityChanged:
            line.kind = "quality"
            let probing = changed.probing.map { " probing \($0.rawValue)" } ?? ""
            line.text =
                "quality \(changed.from.rawValue) → \(changed.to.rawValue)\(probing) because of \(changed.reason.rawValue): \(changed.detail)"
                + " [\(Self.figures(changed.figures))]"
        case let raised as IngestAlertRaised:
            line.kind = "alert"
            line.text = "ingest alert \(raised.rule.rawValue) raised: \(raised.message)"
        case let cleared as IngestAlertCleared:
            line.kind = "alert"
            line.text = "ingest alert \(cleared.rule.rawValue) cleared after \(Self.seconds(cleared.durationSeconds))"
        case let started as RenditionStarted:
            line.kind = "rendition"
            var what: [String] = [started.codec]
            if let width = started.width, let height = started.height { what.append("\(width)x\(height)") }
            if let rate = started.frameRate { what.append("\(Self.number(rate)) fps") }
            if let bitrate = started.bitrate { what.append(Self.bitrate(Double(bitrate))) }
            if started.passthrough { what.append("passthrough") }
            line.text = "rendition \(started.rendition) started (\(started.reason.rawValue)): \(what.joined(separator: " "))"
        case let stopped as RenditionStopped:
            line.kind = "rendition"
            line.text = "rendition \(stopped.rendition) stopped (\(stopped.reason.rawValue))"
            if let cause = line.cause { line.text += " after #\(cause)" }
        case let resumed as StreamResumed:
            line.kind = "resumed"
            line.text =
                "encoder reconnected from \(resumed.remoteAddress) after a \(Self.seconds(Double(resumed.gapMilliseconds) / 1000)) gap"
        case let ended as StreamEnded:
            let summary =
                "after \(Self.duration(ended.durationSeconds)), \(Self.bytes(ended.bytesReceived)) received, "
                + "\(ended.reconnects) reconnect\(ended.reconnects == 1 ? "" : "s")"
            if ended.reason == .kicked {
                line.kind = "kicked"
                let why = ended.detail ?? event.metadata.reason
                line.text = "kicked by \(actor)" + (why.map { ": \($0)" } ?? "")
                // The kick a revocation causes names its cause; before causation ids were passed
                // on, the revocation it followed is the channel's latest one.
                let revocation =
                    line.cause.flatMap { $0 == lastRevocation?.position ? lastRevocation : nil }
                    ?? (why?.contains("revoked") == true ? lastRevocation : nil)
                if let revocation {
                    line.cause = revocation.position
                    line.text +=
                        " (key revoked at #\(revocation.position) by \(revocation.metadata.actor)"
                        + (revocation.metadata.reason.map { ": \($0)" } ?? "") + ")"
                }
                line.text += "; ended \(summary)"
            } else {
                line.kind = "ended"
                line.text = "ended (\(ended.reason.rawValue)\(ended.detail.map { ": \($0)" } ?? "")) \(summary)"
            }
        case is StreamKeyRevoked:
            line.kind = "key"
            line.text = "stream key revoked by \(actor)\(reason)"
        case is StreamKeyIssued:
            line.kind = "key"
            line.text = "new stream key issued by \(actor)\(reason)"
        case let deleted as ChatMessageDeleted:
            line.kind = "moderation"
            line.text = "chat message \(deleted.messageId.uuidString.lowercased()) deleted by \(actor)\(reason)"
        case let timedOut as ChatUserTimedOut:
            line.kind = "moderation"
            line.text = "chat user \(timedOut.userId) timed out for \(Self.duration(Double(timedOut.seconds))) by \(actor)\(reason)"
        case let banned as ChatUserBanned:
            line.kind = "moderation"
            line.text = "chat user \(banned.userId) banned by \(actor)\(reason)"
        case let unbanned as ChatUserUnbanned:
            line.kind = "moderation"
            line.text = "chat user \(unbanned.userId) unbanned by \(actor)\(reason)"
        case let added as ChatModeratorAdded:
            line.kind = "moderation"
            line.text = "chat moderator \(added.userId) added by \(actor)\(reason)"
        case let removed as ChatModeratorRemoved:
            line.kind = "moderation"
            line.text = "chat moderator \(removed.userId) removed by \(actor)\(reason)"
        case is ChatSettingsChanged:
            line.kind = "moderation"
            line.text = "chat settings changed by \(actor)\(reason)"
        default:
            line.text = "\(event.eventType) by \(actor)\(reason)"
        }
    }

    static func video(_ video: StreamDescription.Video) -> String {
        var parts = ["video \(video.codec)"]
        if let width = video.width, let height = video.height { parts.append("\(width)x\(height)") }
        if let rate = video.frameRate { parts.append("\(number(rate)) fps") }
        if let bitrate = video.bitrate { parts.append(Self.bitrate(Double(bitrate))) }
        return parts.joined(separator: " ")
    }

    static func audio(_ audio: StreamDescription.Audio) -> String {
        var parts = ["audio \(audio.codec)"]
        if let rate = audio.sampleRate { parts.append("\(rate) Hz") }
        if let channels = audio.channels { parts.append("\(channels) ch") }
        return parts.joined(separator: " ")
    }

    /// The figures a quality change names, the unknown ones left out.
    static func figures(_ figures: QualityFigures) -> String {
        var parts: [String] = []
        if let loss = figures.lossRate { parts.append("loss \(number(loss * 100)) %") }
        if let bandwidth = figures.bandwidth { parts.append("bandwidth \(bitrate(bandwidth))") }
        if let rtt = figures.rttMilliseconds { parts.append("rtt \(number(rtt)) ms") }
        return parts.isEmpty ? "no figures" : parts.joined(separator: ", ")
    }

    static func bitrate(_ bits: Double) -> String {
        bits >= 1_000_000 ? String(format: "%.2f Mbps", bits / 1_000_000) : String(format: "%.0f kbps", bits / 1_000)
    }

    static func bytes(_ count: UInt64) -> String {
        let value = Double(count)
        if value >= 1_000_000_000 { return String(format: "%.2f GB", value / 1_000_000_000) }
        if value >= 1_000_000 { return String(format: "%.1f MB", value / 1_000_000) }
        if value >= 1_000 { return String(format: "%.1f kB", value / 1_000) }
        return "\(count) B"
    }

    /// At most one decimal, none when whole.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "?" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(format: "%.0f", rounded) : String(format: "%.1f", rounded)
    }

    static func seconds(_ value: Double) -> String { "\(number(value)) s" }

    /// `42 s`, `3 min 05 s`, `2 h 03 min 05 s`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let total = Int(seconds.rounded())
        let (hours, minutes, rest) = (total / 3600, total % 3600 / 60, total % 60)
        if hours > 0 { return String(format: "%d h %02d min %02d s", hours, minutes, rest) }
        if minutes > 0 { return String(format: "%d min %02d s", minutes, rest) }
        return "\(rest) s"
    }
}
