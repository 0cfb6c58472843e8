import Chat
import CoreMetrics
import EventStore
import Foundation
import Gateway
import Ingest
import Packager
import Prometheus
import Quality
import Synchronization
import Transcode

/// The node's metrics backend: swift-metrics onto a swift-prometheus registry, with every name's
/// help text and buckets from the catalogs the modules publish (swift-metrics carries neither,
/// and `promtool check metrics` wants help on every family).
///
/// The modules record through the process-wide `MetricsSystem`, which `bootstrap()` points here
/// once per process (`streamd serve`). Figures that are state rather than events (live sessions,
/// connections, projection lag, the process's memory and descriptors) are read when scraped.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: DescribedPrometheusFactory
    /// Scrape-time series by name and labels; those absent from a scrape are dropped from the registry.
    private let scraped = Mutex<[String: CoreMetrics.Gauge]>([:])
    private let mirrored = Mutex<[String: Int]>([:])

    /// A backend of its own; the modules' own instruments reach it only through `bootstrap()`.
    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.factory = DescribedPrometheusFactory(registry: registry, help: Self.help, buckets: Self.buckets)
    }

    /// A backend that the process's swift-metrics instruments record into (once per process).
    public static func bootstrap() -> NodeMetrics {
        let metrics = NodeMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        return metrics
    }

    static let liveSessions = "streamd_ingest_live_sessions"
    static let ingestBitrate = "streamd_ingest_received_bytes_per_second"
    static let ingestFrameRate = "streamd_ingest_video_frame_rate"
    static let ingestQueue = "streamd_ingest_queued_items"
    static let health = "streamd_quality_health"
    static let projectionLag = "streamd_projection_lag_events"
    static let logHead = "streamd_eventlog_head_position"
    static let httpConnections = "streamd_http_connections"
    static let chatSockets = "streamd_chat_sockets"
    static let waitingReloads = "streamd_hls_waiting_reloads"
    static let viewers = "streamd_viewers"
    static let qoePlayers = "streamd_qoe_players"
    static let qoeStartup = "streamd_qoe_startup_seconds"
    static let qoeRebufferRatio = "streamd_qoe_rebuffer_ratio"
    static let qoeBitrate = "streamd_qoe_bitrate_bytes_per_second"
    static let qoeLiveEdge = "streamd_qoe_live_edge_seconds"
    static let cmcdRequests = "streamd_cmcd_requests_total"
    static let cmcdReports = "streamd_cmcd_event_reports_total"
    static let residentMemory = "process_resident_memory_bytes"
    static let openFDs = "process_open_fds"
    static let maxFDs = "process_max_fds"
    static let threads = "process_threads"
    static let startTime = "process_start_time_seconds"

    static let help: [String: String] = [
        liveSessions: "Live publishing sessions, by protocol.",
        ingestBitrate: "Bytes per second received from a live session's encoder over the last sample (times 8: its bitrate).",
        ingestFrameRate: "Video frames per second received from a live session's encoder over the last sample.",
        ingestQueue: "Media items of a live session waiting for its transcoder.",
        health: "A live session's health score (0-100) from the quality machine.",
        projectionLag: "Events in the log that a projection has not looked at yet.",
        logHead: "Position of the newest event this node knows of.",
        httpConnections: "Open HTTP connections (chat sockets included).",
        chatSockets: "Open chat sockets.",
        waitingReloads: "Blocking LL-HLS playlist reloads waiting for their part.",
        viewers: "Concurrent viewers of a live channel: clients that fetched its playlists or media within the viewer window.",
        qoePlayers: "Players of a live channel that sent CMCD (by session id).",
        qoeStartup: "Players' startup time (CMCD), median and 90th percentile, per live channel.",
        qoeRebufferRatio: "Time the players of a live channel spent stalled over time watched (CMCD).",
        qoeBitrate: "Average encoded bitrate the players of a live channel fetched (CMCD br), in bytes per second.",
        qoeLiveEdge: "How far behind the live edge the players of a channel play, on average (CMCD).",
        cmcdRequests: "Playback requests that carried CMCD, by outcome (read, or malformed and ignored).",
        cmcdReports: "CMCD event reports (POST /v1/cmcd), by outcome.",
        residentMemory: "Resident memory of the streamd process.",
        openFDs: "Open file descriptors of the streamd process.",
        maxFDs: "The process's open-file limit (soft).",
        threads: "Threads of the streamd process.",
        startTime: "When the process started, in seconds since the Unix epoch.",
    ]
    .merging(EventLogMetrics.help) { $1 }.merging(IngestMetrics.help) { $1 }.merging(TranscodeMetrics.help) { $1 }
    .merging(PackagerMetrics.help) { $1 }.merging(ChatMetrics.help) { $1 }.merging(DeliveryMetrics.help) { $1 }
    .merging(CheckpointPusher.help) { $1 }

    static let buckets: [String: [Double]] = EventLogMetrics.buckets.merging(TranscodeMetrics.buckets) { $1 }
        .merging(PackagerMetrics.buckets) { $1 }.merging(ChatMetrics.buckets) { $1 }

    private static let started = Date().timeIntervalSince1970

    /// Where the scrape-time figures come from.
    struct Sources: Sendable {
        var sessions: SessionRegistry
        var store: EventStore
        var runners: [ProjectionRunner]
        var audience: Audience
        var connections: ConnectionGuard
        var directory: PlaybackDirectory
        var quality: QualityReadModel
    }

    /// Reads the scrape-time figures, then renders the whole registry.
    func exposition(of sources: Sources) async -> [UInt8] {
        var values: [Series: Double] = [:]
        let sessions = await sources.sessions.list()
        for name in ["rtmp", "rtmps", "srt"] {
            values[Series(Self.liveSessions, ["protocol": name])] = Double(sessions.filter { $0.protocol == name }.count)
        }
        for session in sessions {
            let labels = ["channel": session.channelName, "protocol": session.protocol]
            values[Series(Self.ingestBitrate, labels)] = Double(session.stats.receivedBitrate) / 8
            values[Series(Self.ingestFrameRate, labels)] = session.stats.videoFrameRate
            values[Series(Self.ingestQueue, labels)] = Double(session.stats.queueDepth)
        }
        if let rows = try? await sources.quality.sessions(sessions.map { $0.id.uuidString.lowercased() }) {
            for session in sessions {
                guard let row = rows[session.id.uuidString.lowercased()] else { continue }
                values[Series(Self.health, ["channel": session.channelName])] = Double(row.health)
            }
        }
        let head = await sources.store.knownHeadPosition()
        values[Series(Self.logHead, [:])] = Double(head)
        for runner in sources.runners {
            values[Series(Self.projectionLag, ["projection": runner.name])] = Double(max(0, head - (await runner.scanned)))
        }
        values[Series(Self.httpConnections, [:])] = Double(sources.connections.connectionCount)
        values[Series(Self.chatSockets, [:])] = Double(sources.connections.webSocketCount)
        values[Series(Self.waitingReloads, [:])] = Double(sources.directory.all.reduce(0) { $0 + $1.waitingReloads })
        for session in sources.audience.viewers.sessions() {
            values[Series(Self.viewers, ["channel": session.channel]), default: 0] += Double(session.viewers)
        }
        for session in sessions {
            guard let qoe = sources.audience.players.summary(session: session.id.uuidString.lowercased()) else { continue }
            let channel = ["channel": session.channelName]
            values[Series(Self.qoePlayers, channel)] = Double(qoe.players)
            if let median = qoe.startupMedianMs {
                values[Series(Self.qoeStartup, ["channel": session.channelName, "quantile": "0.5"])] = Double(median) / 1000
            }
            if let p90 = qoe.startupP90Ms {
                values[Series(Self.qoeStartup, ["channel": session.channelName, "quantile": "0.9"])] = Double(p90) / 1000
            }
            if let ratio = qoe.rebufferRatio { values[Series(Self.qoeRebufferRatio, channel)] = ratio }
            if let kbps = qoe.averageBitrateKbps { values[Series(Self.qoeBitrate, channel)] = Double(kbps) * 1000 / 8 }
            if let edge = qoe.liveEdgeMs { values[Series(Self.qoeLiveEdge, channel)] = Double(edge) / 1000 }
        }
        let cmcd = sources.audience.cmcd
        mirror(Self.cmcdRequests, ["outcome": "read"], cmcd.requests - cmcd.malformed)
        mirror(Self.cmcdRequests, ["outcome": "malformed"], cmcd.malformed)
        mirror(Self.cmcdReports, ["outcome": "accepted"], cmcd.events)
        mirror(Self.cmcdReports, ["outcome": "rejected_body"], cmcd.rejectedBodies)
        mirror(Self.cmcdReports, ["outcome": "unattributed"], cmcd.unattributed)
        for (name, value) in ProcessFigures.read() { values[Series(name, [:])] = value }
        values[Series(Self.startTime, [:])] = Self.started
        publish(values)
        return registry.emitToBuffer()
    }

    struct Series: Hashable {
        var name: String
        var labels: [String: String]
        init(_ name: String, _ labels: [String: String]) {
            self.name = name
            self.labels = labels
        }
        var key: String { name + "|" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
    }

    /// Keeps a counter equal to a total counted elsewhere, by adding what it gained since the last scrape.
    private func mirror(_ name: String, _ labels: [String: String], _ total: Int) {
        let series = Series(name, labels)
        let added = mirrored.withLock { seen in
            defer { seen[series.key] = total }
            return total - (seen[series.key] ?? 0)
        }
        guard added > 0 else { return }
        CoreMetrics.Counter(label: name, dimensions: labels.sorted { $0.key < $1.key }, factory: factory).increment(by: Int64(added))
    }

    private func publish(_ values: [Series: Double]) {
        let factory = self.factory
        let gone: [CoreMetrics.Gauge] = scraped.withLock { gauges in
            var seen = Set<String>()
            for (series, value) in values {
                let key = series.key
                seen.insert(key)
                let gauge =
                    gauges[key]
                    ?? CoreMetrics.Gauge(label: series.name, dimensions: series.labels.sorted { $0.key < $1.key }, factory: factory)
                gauges[key] = gauge
                gauge.record(value)
            }
            let stale = gauges.keys.filter { !seen.contains($0) }
            return stale.compactMap { gauges.removeValue(forKey: $0) }
        }
        for gauge in gone { gauge.destroy() }
    }
}

/// The process's own figures, from procfs (Linux); empty elsewhere.
enum ProcessFigures {
    static func read() -> [(String, Double)] {
        var figures: [(String, Double)] = []
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        {
            figures.append((NodeMetrics.residentMemory, pages * Double(pageSize)))
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            figures.append((NodeMetrics.openFDs, Double(entries.count)))
        }
        if let limit = OpenFileLimit.current() { figures.append((NodeMetrics.maxFDs, Double(limit.soft))) }
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") }),
            let count = Double(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces))
        {
            figures.append((NodeMetrics.threads, count))
        }
        return figures
    }

    private static let pageSize: Int = {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 4096
        #endif
    }()
}

/// swift-metrics onto a Prometheus registry, naming each family's help text and buckets from a
/// catalog; a name missing from it gets its own name as help.
struct DescribedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let help: [String: String]
    let buckets: [String: [Double]]

    private func text(_ label: String) -> String { help[label] ?? label }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: text(label))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: text(label))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: text(label)) }
        return registry.makeValueHistogram(
            name: label, labels: dimensions, buckets: buckets[label] ?? [1, 5, 10, 50, 100, 500, 1000], help: text(label))
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: text(label))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let seconds = buckets[label] ?? [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        return registry.makeDurationHistogram(
            name: label, labels: dimensions, buckets: seconds.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }, help: text(label))
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? Histogram<Double> { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? Histogram<Duration> { registry.unregisterDurationHistogram(histogram) }
    }
}
