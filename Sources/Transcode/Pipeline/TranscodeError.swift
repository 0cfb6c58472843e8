import Media

/// Why a transcode stopped. Every case says what happened and what the publisher can do.
public enum TranscodeError: Error, Sendable, CustomStringConvertible {
    /// No libavcodec decoder exists for the source codec.
    case unsupportedCodec(TrackKind, String)
    /// A packet arrived for a track whose `.track` description was never sent.
    case packetBeforeTrack(TrackKind)
    /// The source's bytes could not be decoded (corrupt or truncated input).
    case corruptInput(TrackKind, consecutiveFailures: Int, last: LibavError)
    /// A libav call failed outside of decoding the source (opening an encoder, scaling, muxing).
    case libav(LibavError)
    /// The input sequence itself failed (the ingest connection or file reader threw).
    case input(String)
    /// The source describes a shape the transcoder cannot work with (no size, zero frame rate).
    case invalidTrack(String)

    public var description: String {
        switch self {
        case .unsupportedCodec(let kind, let codec):
            "the \(kind.rawValue) codec \(codec) cannot be decoded; publish H.264/HEVC video and AAC/Opus/MP3 audio"
        case .packetBeforeTrack(let kind):
            "a \(kind.rawValue) packet arrived before its track description; the demuxer must send .track first"
        case .corruptInput(let kind, let failures, let last):
            "the \(kind.rawValue) stream is corrupt (\(failures) packets in a row failed to decode, last: \(last)); check the encoder's output or restart the publish"
        case .libav(let error):
            "transcoding failed: \(error)"
        case .input(let reason):
            "the input stream failed: \(reason); the publisher should reconnect"
        case .invalidTrack(let reason):
            "the source track is unusable: \(reason); check the encoder settings"
        }
    }

    /// The pipeline stage, as recorded in `TranscodeFailed`.
    public var stage: String {
        switch self {
        case .unsupportedCodec, .packetBeforeTrack, .invalidTrack: "configure"
        case .corruptInput: "decode"
        case .libav: "encode"
        case .input: "input"
        }
    }
}
