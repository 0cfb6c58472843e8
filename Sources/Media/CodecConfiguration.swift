/// Out-of-band decoder configuration of a track.
public enum CodecConfiguration: Sendable, Hashable {
    case avc(AVCDecoderConfigurationRecord)
    case aac(AudioSpecificConfig)
    /// Anything else, as the codec's own extradata bytes (possibly empty).
    case opaque([UInt8])
}
