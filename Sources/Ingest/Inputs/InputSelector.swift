import Media

/// Chooses which of a session's inputs (primary, backup, slate) feeds its media, and keeps one
/// continuous timeline across switches: each source's timestamps are shifted so that its first
/// forwarded keyframe follows the last forwarded frame. A switch is a discontinuity only where
/// the timeline broke: nothing (not even the slate) played between the two sources.
///
/// A pure state machine: the session calls it under its lock with the clock's reading.
struct InputSelector: Sendable {
    struct Options: Sendable, Hashable {
        /// No media for this long from the playing input switches to another that has some.
        var stallAfter: Duration = .milliseconds(1500)
        /// The primary returns after this long of media without a stall.
        var switchBackAfter: Duration = .seconds(5)
        /// After a quality ERROR, the primary is not switched back to for this long.
        var qualityHold: Duration = .seconds(30)
        /// An input's buffered group of pictures beyond this is dropped until its next keyframe.
        var maxBufferedBytes = 16 << 20

        init(stallAfter: Duration = .milliseconds(1500), switchBackAfter: Duration = .seconds(5)) {
            self.stallAfter = stallAfter
            self.switchBackAfter = switchBackAfter
        }
    }

    struct Input: Sendable {
        var tracks: [TrackKind: TrackInfo] = [:]
        var lastMedia: ContinuousClock.Instant?
        /// Since when media has arrived without a gap longer than the stall threshold.
        var flowingSince: ContinuousClock.Instant?
        /// From the latest video keyframe (audio only: the latest audio packets), each with when
        /// it arrived: where a switch to this input starts, so it need not wait for the next
        /// keyframe.
        var buffered: [(packet: MediaPacket, arrival: ContinuousClock.Instant)] = []
        var bufferedBytes = 0
        var notBefore: ContinuousClock.Instant?

        var hasVideo: Bool { tracks[.video] != nil }
    }

    struct Switch: Sendable, Hashable {
        var from: InputSource?
        var to: InputSource
        var reason: InputSwitched.Reason
        var silent: Duration?
        var discontinuity: Bool
    }

    struct Output: Sendable {
        var items: [MediaItem] = []
        var switched: Switch?
        /// Whether `items` came from the caller's own input (its backpressure applies).
        var fromCaller = false
    }

    var options: Options
    private(set) var inputs: [IngestInputRole: Input] = [:]
    private(set) var active: InputSource?
    /// Microseconds added to each source's timestamps.
    private var offsets: [InputSource: Int64] = [:]
    /// The tracks last forwarded (in `outputTimebase`).
    private(set) var outputTracks: [TrackKind: TrackInfo] = [:]
    private var outputTimebase: [TrackKind: Timebase] = [:]
    /// Output decode times in microseconds, and the last gap between two, per kind.
    private var lastOutput: [TrackKind: Int64] = [:]
    private var lastStep: [TrackKind: Int64] = [:]
    /// The next switch must be announced as a discontinuity (the timeline broke: nothing played).
    private var timelineBroken = false
    static let microseconds = Timebase.microseconds

    init(options: Options = Options()) {
        self.options = options
    }

    var connectedRoles: [IngestInputRole] { IngestInputRole.allCases.filter { inputs[$0] != nil } }

    /// Where the output timeline ends: the next frame after the last one forwarded (1 ms after
    /// it while no frame duration is known).
    var outputEnd: Int64? {
        lastOutput.keys.compactMap(end(of:)).max()
    }

    /// Where `kind`'s output ends: the next frame after its last one.
    private func end(of kind: TrackKind) -> Int64? {
        lastOutput[kind].map { $0 + (lastStep[kind] ?? 1000) }
    }

    mutating func connected(_ role: IngestInputRole) {
        inputs[role] = Input()
    }

    /// `role`'s connection ended. Switches to the other input when one is playable.
    mutating func disconnected(_ role: IngestInputRole, now: ContinuousClock.Instant) -> Output {
        let gone = inputs.removeValue(forKey: role)
        guard active == InputSource(role) else { return Output() }
        let silent = gone?.lastMedia.map { $0.duration(to: now) }
        if let other = IngestInputRole.allCases.first(where: { $0 != role && isPlayable($0, now: now) }) {
            return switchTo(other, reason: .inputDisconnected, silent: silent, shownUntil: gone?.lastMedia)
        }
        active = nil
        timelineBroken = true
        return Output()
    }

    /// Items an input delivered; returns what the session's media gets now. A switch to the
    /// caller's input happens at the item that makes it due (its first keyframe), so the rest of
    /// the batch follows it in order.
    mutating func receive(_ items: [MediaItem], from role: IngestInputRole, now: ContinuousClock.Instant) -> Output {
        guard inputs[role] != nil else { return Output() }
        let source = InputSource(role)
        var output = Output(fromCaller: active == source)
        var forwarded: [MediaItem] = []
        for item in items {
            switch item {
            case .track(let track):
                inputs[role]?.tracks[track.kind] = track
                if active == source { forwarded.append(item) }
            case .packet(let packet):
                note(packet, from: role, now: now)
                if active == source {
                    forwarded.append(item)
                } else if let switched = switchIfDue(to: role, at: packet, now: now) {
                    output.items += map(forwarded, from: source)
                    forwarded = []
                    output.items += switched.items
                    output.switched = switched.switched
                    output.fromCaller = true
                }
            case .discontinuity:
                break
            }
        }
        output.items += map(forwarded, from: source)
        return output
    }

    /// Records `packet`'s arrival and keeps it in the input's buffer.
    private mutating func note(_ packet: MediaPacket, from role: IngestInputRole, now: ContinuousClock.Instant) {
        guard var input = inputs[role] else { return }
        if let last = input.lastMedia, last.duration(to: now) <= options.stallAfter {
            if input.flowingSince == nil { input.flowingSince = now }
        } else {
            input.flowingSince = now
        }
        input.lastMedia = now
        buffer(packet, into: &input, at: now)
        inputs[role] = input
    }

    /// Whether `role`, not playing, should play from its buffer now that `packet` arrived.
    private mutating func switchIfDue(to role: IngestInputRole, at packet: MediaPacket, now: ContinuousClock.Instant) -> Output? {
        guard let input = inputs[role], !input.buffered.isEmpty else { return nil }
        let keyframe = !input.hasVideo || (packet.track == .video && packet.isKeyframe)
        switch active {
        case nil, .slate?:
            return switchTo(role, reason: .inputAvailable, silent: nil)
        case .primary?, .backup?:
            if activeStalled(now: now) {
                let last = activeInput?.lastMedia
                return switchTo(role, reason: .inputStalled, silent: last.map { $0.duration(to: now) }, shownUntil: last)
            }
            if role == .primary, active == .backup, keyframe, let since = input.flowingSince,
                since.duration(to: now) >= options.switchBackAfter, input.notBefore.map({ now >= $0 }) ?? true
            {
                return switchTo(role, reason: .primaryRecovered, silent: nil)
            }
            return nil
        }
    }

    /// The clock's reading between deliveries: a playing input that went silent past the stall
    /// threshold gives way to one that is not, without waiting for that one's next batch (reads are
    /// paced, so batches can be half a second apart).
    mutating func tick(now: ContinuousClock.Instant) -> Output {
        guard let active, active != .slate, activeStalled(now: now),
            let other = IngestInputRole.allCases.first(where: { InputSource($0) != active && isPlayable($0, now: now) })
        else { return Output() }
        let last = activeInput?.lastMedia
        return switchTo(other, reason: .inputStalled, silent: last.map { $0.duration(to: now) }, shownUntil: last)
    }

    /// The quality machine put the session in ERROR: plays the other input if it is healthy.
    mutating func qualityFailed(now: ContinuousClock.Instant) -> Output {
        guard let role = active?.role,
            let other = IngestInputRole.allCases.first(where: { $0 != role && isPlayable($0, now: now) })
        else { return Output() }
        let last = inputs[role]?.lastMedia
        inputs[role]?.notBefore = now + options.qualityHold
        inputs[role]?.flowingSince = nil
        return switchTo(other, reason: .qualityError, silent: nil, shownUntil: last)
    }

    /// The slate takes over (nothing is playing); its packets follow through `slate(_:)`.
    mutating func startSlate(tracks: [TrackInfo]) -> Output {
        guard active == nil else { return Output() }
        active = .slate
        offsets[.slate] = outputEnd ?? 0
        // The slate starts where the media stopped, at once: no gap to announce.
        timelineBroken = false
        var output = Output()
        let discontinuity = beginTracks(tracks, into: &output.items)
        output.switched = Switch(from: nil, to: .slate, reason: .inputDisconnected, silent: nil, discontinuity: discontinuity)
        return output
    }

    /// Slate packets (their timestamps from the slate's own start).
    mutating func slate(_ packets: [MediaPacket]) -> [MediaItem] {
        guard active == .slate else { return [] }
        return map(packets.map(MediaItem.packet), from: .slate)
    }

    var isPlayingSlate: Bool { active == .slate }

    /// Whether `role`'s figures are the session's: it plays, or nothing does yet.
    func isPlaying(_ role: IngestInputRole) -> Bool {
        active.map { $0 == InputSource(role) } ?? (inputs.count <= 1 || role == .primary)
    }

    // MARK: Internals

    private var activeInput: Input? {
        guard let role = active?.role else { return nil }
        return inputs[role]
    }

    private func activeStalled(now: ContinuousClock.Instant) -> Bool {
        guard let active, active != .slate else { return false }
        guard let input = activeInput else { return true }
        guard let last = input.lastMedia else { return false }
        return last.duration(to: now) > options.stallAfter
    }

    private func isPlayable(_ role: IngestInputRole, now: ContinuousClock.Instant) -> Bool {
        guard let input = inputs[role], !input.buffered.isEmpty, let last = input.lastMedia else { return false }
        return last.duration(to: now) <= options.stallAfter
    }

    private func buffer(_ packet: MediaPacket, into input: inout Input, at now: ContinuousClock.Instant) {
        if input.hasVideo {
            if packet.track == .video, packet.isKeyframe {
                input.buffered.removeAll(keepingCapacity: true)
                input.bufferedBytes = 0
            } else if input.buffered.isEmpty {
                return
            }
        } else if input.buffered.count >= 64 {
            input.bufferedBytes -= input.buffered.removeFirst().packet.data.count
        }
        input.buffered.append((packet, now))
        input.bufferedBytes += packet.data.count
        if input.bufferedBytes > options.maxBufferedBytes {
            input.buffered.removeAll()
            input.bufferedBytes = 0
        }
    }

    /// Plays `role` from its buffer. `shownUntil`: when the input left delivered its last media;
    /// the new input's frames that arrived before then show what was already shown (both encoders
    /// film the same scene), so they are decoded but not shown (`decodeOnly`) and the first later
    /// frame follows the last one shown: switching adds no latency.
    private mutating func switchTo(
        _ role: IngestInputRole, reason: InputSwitched.Reason, silent: Duration?, shownUntil: ContinuousClock.Instant? = nil
    ) -> Output {
        guard let input = inputs[role], !input.buffered.isEmpty else { return Output() }
        let previous = active
        active = InputSource(role)
        var shown = 0
        if let shownUntil {
            shown = input.buffered.firstIndex { $0.arrival > shownUntil } ?? input.buffered.count
            // At least one frame is new; in a video input, the first new one is a video frame.
            shown = min(shown, input.buffered.count - 1)
            if input.hasVideo {
                while shown > 0, input.buffered[shown].packet.track != .video { shown -= 1 }
            }
        }
        let anchor = input.buffered[shown].packet
        let start = anchor.timebase.convert(anchor.dts, to: Self.microseconds)
        // A video input's first frame follows the last frame shown exactly, so the frames keep
        // their phase on the transcoder's IDR grid (an IDR a frame early makes a segment shorter
        // than the packager cuts, and the next one twice as long); its audio follows from there.
        let end = anchor.track == .video ? end(of: .video) ?? outputEnd : outputEnd
        offsets[InputSource(role)] = (end ?? start) - start
        var output = Output()
        let discontinuity = beginTracks(Array(input.tracks.values), into: &output.items)
        var replay = input.buffered.map(\.packet)
        for index in 0..<shown { replay[index].decodeOnly = true }
        output.items += map(replay.map(MediaItem.packet), from: InputSource(role), atSwitch: true)
        output.switched = Switch(from: previous, to: InputSource(role), reason: reason, silent: silent, discontinuity: discontinuity)
        return output
    }

    /// Announces `tracks` for the new source: a discontinuity first only when nothing played
    /// between the two (the timeline broke). Other codec parameters need none: the transcoder
    /// decodes whatever comes and its encoders go on, and the source's own rendition pauses while
    /// the parameters differ from its init segment's (`TranscodePipeline`).
    private mutating func beginTracks(_ tracks: [TrackInfo], into items: inout [MediaItem]) -> Bool {
        let mapped = tracks.map { outputTrack($0) }.sorted { $0.kind == .video && $1.kind != .video }
        let discontinuity = !outputTracks.isEmpty && timelineBroken
        timelineBroken = false
        if discontinuity { items.append(.discontinuity) }
        for track in mapped where discontinuity || outputTracks[track.kind] != track {
            items.append(.track(track))
            outputTracks[track.kind] = track
        }
        return discontinuity
    }

    private mutating func outputTrack(_ track: TrackInfo) -> TrackInfo {
        var track = track
        if let timebase = outputTimebase[track.kind] {
            track.timebase = timebase
        } else {
            outputTimebase[track.kind] = track.timebase
        }
        return track
    }

    /// Shifts `items` of `source` onto the output timeline. At a switch, packets that would not
    /// come after what was shown (the overlap) are dropped; after that the source's timestamps pass
    /// as they come (an encoder's equal or late timestamps are the transcoder's to judge).
    private mutating func map(_ items: [MediaItem], from source: InputSource, atSwitch: Bool = false) -> [MediaItem] {
        let offset = offsets[source] ?? 0
        var out: [MediaItem] = []
        out.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .track(let track):
                let mapped = outputTrack(track)
                guard outputTracks[mapped.kind] != mapped else { continue }
                outputTracks[mapped.kind] = mapped
                out.append(.track(mapped))
            case .packet(var packet):
                let kind = packet.track
                let timebase = outputTimebase[kind] ?? packet.timebase
                outputTimebase[kind] = timebase
                let dts = packet.timebase.convert(packet.dts, to: Self.microseconds) &+ offset
                if packet.decodeOnly {
                    // Only video needs what came before: audio already shown is left out.
                    guard kind == .video else { continue }
                } else if let last = lastOutput[kind] {
                    if atSwitch, dts <= last { continue }
                    if dts > last {
                        lastStep[kind] = min(dts - last, 1_000_000)
                        lastOutput[kind] = dts
                    }
                } else {
                    lastOutput[kind] = dts
                }
                let composition = packet.timebase.convert(packet.pts &- packet.dts, to: timebase)
                packet.dts = Self.microseconds.convert(dts, to: timebase)
                packet.pts = packet.dts &+ composition
                packet.timebase = timebase
                out.append(.packet(packet))
            case .discontinuity:
                break
            }
        }
        return out
    }
}
