import Media
import Transcode

/// A media file as a live source: `.track` for its best video and audio stream, then their packets in
/// file order. With `realTime`, packets are released at the pace of their decode timestamps, like an
/// encoder pushing live. Used by tests and the benchmark; live input comes from Ingest.
public struct FileSource: AsyncSequence, Sendable {
    public typealias Element = MediaItem
    public let path: String
    public let realTime: Bool

    public init(path: String, realTime: Bool = false) {
        self.path = path
        self.realTime = realTime
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(path: path, realTime: realTime)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let path: String
        let realTime: Bool
        private var demuxer: Demuxer?
        private var pendingTracks: [TrackInfo] = []
        private var finished = false
        private var origin: (instant: ContinuousClock.Instant, seconds: Double)?

        init(path: String, realTime: Bool) {
            self.path = path
            self.realTime = realTime
        }

        public mutating func next() async throws -> MediaItem? {
            guard !finished else { return nil }
            if demuxer == nil {
                do {
                    let opened = try Demuxer(path: path)
                    demuxer = opened
                    pendingTracks = opened.tracks
                } catch {
                    finished = true
                    throw error
                }
            }
            if !pendingTracks.isEmpty { return .track(pendingTracks.removeFirst()) }
            guard let demuxer, let packet = try demuxer.read() else {
                finished = true
                return nil
            }
            if realTime { try await pace(packet) }
            return .packet(packet)
        }

        private mutating func pace(_ packet: MediaPacket) async throws {
            let seconds = packet.timebase.seconds(packet.dts)
            guard let origin else {
                origin = (ContinuousClock.now, seconds)
                return
            }
            let due = origin.instant + .seconds(Swift.max(seconds - origin.seconds, 0))
            if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
        }
    }
}
