/// One compressed access unit on the media path.
///
/// Video payloads are in the length-prefixed (AVCC / "MP4") form that FLV and CMAF both use, with
/// the NAL length size given by the track's `AVCDecoderConfigurationRecord`; Annex B sources
/// (MPEG-TS) are converted by the demuxer. Audio payloads are raw frames (AAC without ADTS).
public struct MediaPacket: Sendable {
    public var track: TrackKind
    /// Presentation and decode time in `timebase` ticks.
    public var pts: Int64
    public var dts: Int64
    public var timebase: Timebase
    public var isKeyframe: Bool
    public var data: [UInt8]
    /// Needed to decode the frames after it but already shown: a switch to a backup input starts at
    /// that input's keyframe, and the frames from there to where the other input stopped are decoded
    /// and dropped. Its timestamps precede the last frame shown.
    public var decodeOnly = false

    public init(track: TrackKind, pts: Int64, dts: Int64, timebase: Timebase, isKeyframe: Bool, data: [UInt8]) {
        self.track = track
        self.pts = pts
        self.dts = dts
        self.timebase = timebase
        self.isKeyframe = isKeyframe
        self.data = data
    }

    /// PTS − DTS (the composition offset), in `timebase` ticks.
    public var compositionOffset: Int64 { pts &- dts }
}
