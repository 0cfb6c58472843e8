import Chat
import EventStore
import Foundation
import Ingest
import Transcode

/// The post-stream report of one session (`GET /v1/sessions/ID/report`), computed from the log:
/// how long it ran and how it ended, bitrate and frame rate over time, quality changes,
/// reconnects, dropped frames, viewers, and chat activity in its room while it ran.
public struct SessionReport: Sendable, Codable, Hashable {
    public struct Ending: Sendable, Codable, Hashable {
        public var position: Int64
        public var reason: String
        public var detail: String?
        public var by: String
    }

    /// One window of the ingest figures: averages, and the extremes inside the window.
    public struct IngestWindow: Sendable, Codable, Hashable {
        /// Seconds after the start.
        public var offsetSeconds: Double
        public var at: Date
        public var samples: Int
        public var averageBitrate: Double
        public var minBitrate: Double
        public var maxBitrate: Double
        public var averageFrameRate: Double
        public var minFrameRate: Double
        public var maxFrameRate: Double
        public var droppedFrames: Int
        public var lateFrames: Int
    }

    public struct IngestFigures: Sendable, Codable, Hashable {
        public var samples = 0
        public var averageBitrate: Double?
        public var minBitrate: Double?
        public var maxBitrate: Double?
        public var averageFrameRate: Double?
        public var minFrameRate: Double?
        public var maxFrameRate: Double?
        public var droppedFrames = 0
        public var lateFrames = 0
        public var bytesReceived: UInt64 = 0
        /// Seconds each window of `windows` spans (at most `SessionReport.maxWindows` of them).
        public var windowSeconds: Double = 0
        public var windows: [IngestWindow] = []
    }

    public struct QualityChange: Sendable, Codable, Hashable {
        public var position: Int64
        public var at: Date
        public var from: String
        public var to: String
        public var probing: String?
        public var reason: String
        public var detail: String
        public var figures: QualityFigures
    }

    public struct RenditionChange: Sendable, Codable, Hashable {
        public var position: Int64
        public var at: Date
        public var rendition: String
        /// started or stopped
        public var change: String
        public var reason: String
    }

    public struct Reconnect: Sendable, Codable, Hashable {
        public var position: Int64
        public var at: Date
        public var remoteAddress: String
        public var gapMilliseconds: Int
    }

    public struct Viewers: Sendable, Codable, Hashable {
        public var samples = 0
        public var peak = 0
        public var average: Double?
        public var series: [ViewerSample] = []
        /// The players' experience as last sampled (CMCD).
        public var qoe: PlaybackQoE?
    }

    public struct ViewerSample: Sendable, Codable, Hashable {
        public var position: Int64
        public var at: Date
        public var viewers: Int
    }

    public struct ChatActivity: Sendable, Codable, Hashable {
        public var messages = 0
        public var rejected = 0
        public var deletions = 0
        public var timeouts = 0
        public var bans = 0
        public var unbans = 0
    }

    public var sessionID: String
    public var channel: String
    public var channelID: String
    public var `protocol`: String
    public var remoteAddress: String
    public var encoder: String?
    public var live: Bool
    public var startedAt: Date
    public var endedAt: Date?
    /// To the end, or to now while live.
    public var durationSeconds: Double
    /// The session's first and last event in the log.
    public var firstPosition: Int64
    public var lastPosition: Int64
    public var ended: Ending?
    public var ingest = IngestFigures()
    public var qualityChanges: [QualityChange] = []
    public var finalQuality: String?
    public var renditions: [RenditionChange] = []
    public var reconnects: [Reconnect] = []
    public var viewers = Viewers()
    public var chat = ChatActivity()

    /// Windows of the bitrate and frame-rate series: a report of a day-long session stays small.
    public static let maxWindows = 240
    static let maxViewerSamples = 1_000

    /// Reads the session's events and sums them up.
    public static func build(_ span: SessionHistory.Span, history: SessionHistory, now: Date = Date()) async throws -> SessionReport {
        let store = history.store
        let start = try store.registry.decode(span.started, as: StreamStarted.self)
        let end = span.ended?.recordedAt ?? now
        let duration = Swift.max(0, end.timeIntervalSince(span.started.recordedAt))
        var report = SessionReport(
            sessionID: span.sessionID, channel: span.channelName, channelID: span.channelID, protocol: start.protocol,
            remoteAddress: start.remoteAddress, encoder: start.encoder, live: span.ended == nil, startedAt: span.started.recordedAt,
            endedAt: span.ended?.recordedAt, durationSeconds: duration, firstPosition: span.started.position,
            lastPosition: span.started.position)
        var builder = Builder(start: span.started.recordedAt, windowSeconds: Swift.max(1, (duration / Double(maxWindows)).rounded(.up)))
        for try await page in store.streamPages(span.stream) {
            for event in page { builder.add(event, registry: store.registry, to: &report) }
        }
        builder.finish(&report)
        let room = EventFilter(stream: span.chatStream, toPosition: span.ended?.position)
        let after = span.started.position
        func count(_ type: String) async throws -> Int {
            var filter = room
            filter.types = [type]
            return try await store.count(after: after, filter: filter)
        }
        report.chat = ChatActivity(
            messages: try await count(ChatMessagePosted.eventType), rejected: try await count(ChatMessageRejected.eventType),
            deletions: try await count(ChatMessageDeleted.eventType), timeouts: try await count(ChatUserTimedOut.eventType),
            bans: try await count(ChatUserBanned.eventType), unbans: try await count(ChatUserUnbanned.eventType))
        return report
    }

    /// Folds the session stream's events into the report, one at a time (pages of a long session
    /// are never all in memory).
    struct Builder {
        let start: Date
        let windowSeconds: Double
        var window: IngestWindow?
        var bitrateSum = 0.0
        var frameRateSum = 0.0
        var viewerSum = 0

        init(start: Date, windowSeconds: Double) {
            self.start = start
            self.windowSeconds = windowSeconds
        }

        mutating func add(_ event: RecordedEvent, registry: EventRegistry, to report: inout SessionReport) {
            report.lastPosition = Swift.max(report.lastPosition, event.position)
            guard let decoded = try? registry.decode(event) else { return }
            switch decoded {
            case let sampled as IngestStatsSampled:
                // A window (schema 2) holds every interval; each is placed back at its own second.
                let intervals = sampled.intervals
                var later = intervals.reduce(0) { $0 + Swift.max($1.intervalSeconds, 0) }
                for interval in intervals {
                    later -= Swift.max(interval.intervalSeconds, 0)
                    sample(interval, at: event.recordedAt.addingTimeInterval(-later), into: &report)
                }
                report.ingest.bytesReceived = Swift.max(report.ingest.bytesReceived, sampled.stats.bytesReceivedTotal)
            case let changed as QualityChanged:
                report.qualityChanges.append(
                    QualityChange(
                        position: event.position, at: event.recordedAt, from: changed.from.rawValue, to: changed.to.rawValue,
                        probing: changed.probing?.rawValue, reason: changed.reason.rawValue, detail: changed.detail,
                        figures: changed.figures))
                report.finalQuality = changed.to.rawValue
            case let started as RenditionStarted:
                report.renditions.append(
                    RenditionChange(
                        position: event.position, at: event.recordedAt, rendition: started.rendition, change: "started",
                        reason: started.reason.rawValue))
            case let stopped as RenditionStopped:
                report.renditions.append(
                    RenditionChange(
                        position: event.position, at: event.recordedAt, rendition: stopped.rendition, change: "stopped",
                        reason: stopped.reason.rawValue))
            case let resumed as StreamResumed:
                report.reconnects.append(
                    Reconnect(
                        position: event.position, at: event.recordedAt, remoteAddress: resumed.remoteAddress,
                        gapMilliseconds: resumed.gapMilliseconds))
            case let sampled as AudienceSampled:
                report.viewers.samples += 1
                report.viewers.peak = Swift.max(report.viewers.peak, sampled.viewers)
                viewerSum += sampled.viewers
                if let qoe = sampled.qoe { report.viewers.qoe = qoe }
                if report.viewers.series.count < SessionReport.maxViewerSamples {
                    report.viewers.series.append(ViewerSample(position: event.position, at: event.recordedAt, viewers: sampled.viewers))
                }
            case let ended as StreamEnded:
                report.ended = Ending(
                    position: event.position, reason: ended.reason.rawValue, detail: ended.detail ?? event.metadata.reason,
                    by: event.metadata.actor.description)
                report.ingest.bytesReceived = Swift.max(report.ingest.bytesReceived, ended.bytesReceived)
            default:
                break
            }
        }

        mutating func sample(_ stats: IngestStats, at: Date, into report: inout SessionReport) {
            let bitrate = Double(stats.receivedBitrate)
            let frameRate = stats.videoFrameRate.isFinite ? stats.videoFrameRate : 0
            var ingest = report.ingest
            ingest.samples += 1
            bitrateSum += bitrate
            frameRateSum += frameRate
            ingest.minBitrate = Swift.min(ingest.minBitrate ?? bitrate, bitrate)
            ingest.maxBitrate = Swift.max(ingest.maxBitrate ?? bitrate, bitrate)
            ingest.minFrameRate = Swift.min(ingest.minFrameRate ?? frameRate, frameRate)
            ingest.maxFrameRate = Swift.max(ingest.maxFrameRate ?? frameRate, frameRate)
            ingest.droppedFrames += stats.droppedFrames
            ingest.lateFrames += stats.lateFrames
            ingest.bytesReceived = Swift.max(ingest.bytesReceived, stats.bytesReceivedTotal)
            report.ingest = ingest
            let offset = Swift.max(0, at.timeIntervalSince(start))
            let slot = (offset / windowSeconds).rounded(.down) * windowSeconds
            if let current = window, current.offsetSeconds != slot { close(into: &report) }
            var current =
                window
                ?? IngestWindow(
                    offsetSeconds: slot, at: start.addingTimeInterval(slot), samples: 0, averageBitrate: 0, minBitrate: bitrate,
                    maxBitrate: bitrate, averageFrameRate: 0, minFrameRate: frameRate, maxFrameRate: frameRate, droppedFrames: 0,
                    lateFrames: 0)
            current.samples += 1
            current.averageBitrate += bitrate
            current.averageFrameRate += frameRate
            current.minBitrate = Swift.min(current.minBitrate, bitrate)
            current.maxBitrate = Swift.max(current.maxBitrate, bitrate)
            current.minFrameRate = Swift.min(current.minFrameRate, frameRate)
            current.maxFrameRate = Swift.max(current.maxFrameRate, frameRate)
            current.droppedFrames += stats.droppedFrames
            current.lateFrames += stats.lateFrames
            window = current
        }

        /// Ends the open window: its sums become averages.
        mutating func close(into report: inout SessionReport) {
            guard var current = window, current.samples > 0 else { return }
            current.averageBitrate /= Double(current.samples)
            current.averageFrameRate /= Double(current.samples)
            // Bounded however far the clock moved (a live session's samples reach to now).
            if report.ingest.windows.count < SessionReport.maxWindows + 1 { report.ingest.windows.append(current) }
            window = nil
        }

        mutating func finish(_ report: inout SessionReport) {
            close(into: &report)
            report.ingest.windowSeconds = windowSeconds
            if report.ingest.samples > 0 {
                report.ingest.averageBitrate = bitrateSum / Double(report.ingest.samples)
                report.ingest.averageFrameRate = frameRateSum / Double(report.ingest.samples)
            }
            if report.viewers.samples > 0 { report.viewers.average = Double(viewerSum) / Double(report.viewers.samples) }
        }
    }
}
