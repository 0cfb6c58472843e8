import Media

/// One loop of a standby slate: tracks and their packets, decode times from 0, the video's first
/// packet a keyframe, `duration` long (a whole number of the ladder's keyframe intervals).
public struct SlateClip: Sendable {
    public var tracks: [TrackInfo]
    public var packets: [MediaPacket]
    public var duration: Duration

    public init(tracks: [TrackInfo], packets: [MediaPacket], duration: Duration) {
        self.tracks = tracks
        self.packets = packets.sorted { $0.timebase.seconds($0.dts) < $1.timebase.seconds($1.dts) }
        self.duration = duration
    }
}

/// Makes a slate shaped like a session's last tracks (the integrator's transcoder encodes it).
public protocol SlateProvider: Sendable {
    /// `nil` when no slate can be made for these tracks; the session then waits without one.
    func slate(matching tracks: [TrackInfo]) async -> SlateClip?
}

/// The clip's packets in order, loop after loop, each loop's timestamps after the previous one's.
struct SlateLoop: Sendable {
    let clip: SlateClip
    private var index = 0
    private var loop: Int64 = 0

    init(clip: SlateClip) {
        self.clip = clip
    }

    /// Every packet whose decode time is at most `elapsed` from the slate's start.
    mutating func packets(through elapsed: Duration) -> [MediaPacket] {
        guard !clip.packets.isEmpty, clip.duration > .zero else { return [] }
        let length = Int64(clip.duration.inSeconds * 1_000_000)
        let limit = Int64(elapsed.inSeconds * 1_000_000)
        var due: [MediaPacket] = []
        while true {
            var packet = clip.packets[index]
            let shift = Timebase.microseconds.convert(loop &* length, to: packet.timebase)
            packet.dts &+= shift
            packet.pts &+= shift
            guard packet.timebase.convert(packet.dts, to: .microseconds) <= limit else { break }
            due.append(packet)
            index += 1
            if index == clip.packets.count {
                index = 0
                loop += 1
            }
            if due.count > 10_000 { break }
        }
        return due
    }
}
