/// Sheds encoded rungs when encoding falls behind real time and restores them when headroom returns.
///
/// Sans-I/O: the pipeline reports, per dispatched frame, the largest backlog (seconds of media queued
/// for one running encoder) and the rungs that may be shed; the governor answers with at most one
/// action. Hysteresis: after any change it waits `settleTime` before shedding again, and restores a
/// rung only after the backlog stayed under `resumeBacklog` for `headroomTime`, which doubles (up to
/// `maxHeadroomTime`) each time a restored rung has to be shed again soon after.
public struct OverloadGovernor: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var maxBacklog: Double
        public var resumeBacklog: Double
        public var settleTime: Double
        public var headroomTime: Double
        public var maxHeadroomTime: Double

        public init(
            maxBacklog: Double = 1.0, resumeBacklog: Double = 0.25, settleTime: Double = 2, headroomTime: Double = 10,
            maxHeadroomTime: Double = 160
        ) {
            self.maxBacklog = maxBacklog
            self.resumeBacklog = resumeBacklog
            self.settleTime = settleTime
            self.headroomTime = headroomTime
            self.maxHeadroomTime = maxHeadroomTime
        }
    }

    public enum Action: Sendable, Hashable {
        case stop(String)
        case restart(String)
    }

    public struct Candidate: Sendable, Hashable {
        public var name: String
        public var priority: Int
        public init(name: String, priority: Int) {
            self.name = name
            self.priority = priority
        }
    }

    public let configuration: Configuration
    /// Rungs stopped for overload, most recent last.
    public private(set) var shed: [String] = []
    private var lastChange: Double?
    private var lastRestart: (name: String, at: Double)?
    private var calmSince: Double?
    private var headroomTime: Double

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        headroomTime = configuration.headroomTime
    }

    /// `candidates` are the running encoded rungs; `keepOne` forbids shedding the last of them (no
    /// passthrough rendition is left to watch).
    public mutating func observe(now: Double, backlog: Double, candidates: [Candidate], keepOne: Bool) -> Action? {
        if backlog > configuration.maxBacklog {
            calmSince = nil
            if let last = lastChange, now - last < configuration.settleTime { return nil }
            guard !(keepOne && candidates.count <= 1),
                let victim = candidates.min(by: { ($0.priority, $0.name) < ($1.priority, $1.name) })
            else { return nil }
            if let restart = lastRestart, restart.name == victim.name, now - restart.at < 2 * headroomTime {
                headroomTime = min(headroomTime * 2, configuration.maxHeadroomTime)
            }
            shed.append(victim.name)
            lastChange = now
            return .stop(victim.name)
        }
        guard let next = shed.last else {
            calmSince = nil
            return nil
        }
        guard backlog < configuration.resumeBacklog else {
            calmSince = nil
            return nil
        }
        let since = calmSince ?? now
        calmSince = since
        guard now - since >= headroomTime, now - (lastChange ?? since) >= headroomTime else { return nil }
        shed.removeLast()
        lastChange = now
        lastRestart = (next, now)
        calmSince = nil
        return .restart(next)
    }

    /// The rung was turned off by the control API; it is no longer the governor's to restore.
    public mutating func forget(_ name: String) {
        shed.removeAll { $0 == name }
    }
}
