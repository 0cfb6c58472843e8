/// The Common Media Client Data (CTA-5004, CMCD v2 where noted) one request or event report
/// carried, reduced to the keys streamd uses. Every other key is checked for syntax by the parser
/// and then dropped.
public struct CMCDReport: Sendable, Hashable {
    /// `sid`: the player's session id (at most 64 characters).
    public var sessionID: String?
    /// `cid`: the content id the player set (at most 128 characters).
    public var contentID: String?
    /// `su`: the object is needed urgently (startup, seeking or recovery from a stall).
    public var startup = false
    /// `bs`: the buffer starved since the previous request or report.
    public var bufferStarvation = false
    /// `bl`: buffer length, milliseconds.
    public var bufferLength: Int?
    /// `br`: encoded bitrate of the object, kbps.
    public var bitrate: Int?
    /// `mtp`: measured throughput, kbps.
    public var throughput: Int?
    /// `dl`: deadline, milliseconds.
    public var deadline: Int?
    /// `ot`: object type (`m`, `a`, `v`, `av`, `i`, `c`, `tt`, `k`, `o`).
    public var objectType: String?
    /// `sf`: streaming format (`d`, `h`, `s`, `o`).
    public var streamingFormat: String?
    /// `st`: stream type (`v` VOD, `l` live, `ll` low-latency live in v2).
    public var streamType: String?
    /// `pr`: playback rate.
    public var playbackRate: Double?
    /// `v`: CMCD version (1 when absent).
    public var version: Int?
    /// `ltc` (v2): live latency, milliseconds.
    public var liveLatency: Int?
    /// `bsd` (v2): duration of the latest stall, reported once when it ended, milliseconds.
    public var starvationDuration: Int?
    /// `msd` (v2): media start delay, from "starting" to "playing", milliseconds.
    public var startDelay: Int?
    /// `sta` (v2): player state (`s`, `p`, `k`, `r`, `a`, `w`, `e`, `f`, `q`, `d`).
    public var state: String?
    /// `ts` (v2): when the event happened, milliseconds since the Unix epoch, by the player's clock.
    public var timestamp: Int64?
    /// `e` (v2): the event type of an event-mode report; nil for a request-mode report.
    public var event: String?

    public init() {}

    /// Whether the object is the picture (video, or audio and video together), or of unknown
    /// type: where `bl` and `br` describe what the viewer sees, not the audio or a playlist.
    public var isPicture: Bool {
        switch objectType {
        case nil, "v", "av": true
        default: false
        }
    }

    /// The keys of `other` replace these (a request's four CMCD headers are one report).
    public mutating func merge(_ other: CMCDReport) {
        sessionID = other.sessionID ?? sessionID
        contentID = other.contentID ?? contentID
        startup = startup || other.startup
        bufferStarvation = bufferStarvation || other.bufferStarvation
        bufferLength = other.bufferLength ?? bufferLength
        bitrate = other.bitrate ?? bitrate
        throughput = other.throughput ?? throughput
        deadline = other.deadline ?? deadline
        objectType = other.objectType ?? objectType
        streamingFormat = other.streamingFormat ?? streamingFormat
        streamType = other.streamType ?? streamType
        playbackRate = other.playbackRate ?? playbackRate
        version = other.version ?? version
        liveLatency = other.liveLatency ?? liveLatency
        starvationDuration = other.starvationDuration ?? starvationDuration
        startDelay = other.startDelay ?? startDelay
        state = other.state ?? state
        timestamp = other.timestamp ?? timestamp
        event = other.event ?? event
    }
}
