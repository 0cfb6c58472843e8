/// Why an MPEG-TS stream cannot be ingested; the session ends with this as its reason.
public struct TSStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// No 0x47 sync byte pattern where one is needed.
        case notTransportStream
        /// No PAT/PMT although plenty of packets arrived.
        case noProgram
        /// The program carries nothing streamd can decode.
        case unsupportedCodec
        /// A PES packet grew beyond its limit (a flood, or a stream without packet boundaries).
        case oversizedPacket
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }

    static let advice =
        "streamd accepts MPEG-TS with H.264 video and AAC (ADTS) audio: set the encoder to x264/H.264 and AAC and the container to mpegts"
}
