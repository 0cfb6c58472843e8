import Media

/// Sans-I/O state machine for one RTMP publishing connection after the handshake: it takes
/// messages from the chunk decoder and returns what to send, what to ask the authorizer, which
/// media items to pass on and when to close. The NIO handler around it does the I/O.
public struct RTMPSession: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var application: String
        public var windowAcknowledgementSize: UInt32
        public var outgoingChunkSize: UInt32

        public init(application: String = "live", windowAcknowledgementSize: UInt32 = 2_500_000, outgoingChunkSize: UInt32 = 4096) {
            self.application = application
            self.windowAcknowledgementSize = windowAcknowledgementSize
            self.outgoingChunkSize = outgoingChunkSize
        }
    }

    public struct PublishRequest: Sendable, Hashable {
        public var application: String
        public var streamKey: String
        public var tcURL: String?
        public var messageStreamID: UInt32
        /// `?role=backup` after the key makes the publish the channel's backup input.
        public var role: IngestInputRole = .primary

        public init(
            application: String, streamKey: String, tcURL: String?, messageStreamID: UInt32, role: IngestInputRole = .primary
        ) {
            self.application = application
            self.streamKey = streamKey
            self.tcURL = tcURL
            self.messageStreamID = messageStreamID
            self.role = role
        }
    }

    public enum State: Sendable, Hashable {
        case awaitingConnect
        case connected(application: String)
        case authorizing(PublishRequest)
        case publishing(PublishRequest)
        case closed

        var isPublishing: Bool {
            if case .publishing = self { true } else { false }
        }
    }

    public enum CloseReason: Sendable, Hashable {
        /// The encoder unpublished or deleted its stream.
        case encoderClosed
        /// A refusal was sent; the connection closes once it is written.
        case refused
        case protocolError(String)
    }

    /// A refusal decided by the protocol itself (before any key check), for a `PublishRejected` event.
    public struct Refusal: Sendable, Hashable {
        public var detail: String
        public var application: String?
        public var streamKey: String?
    }

    public enum Action: Sendable {
        case send(RTMPMessage)
        case authorize(PublishRequest)
        case refused(Refusal)
        case media(MediaItem)
        /// The first coded frame arrived: the stream's shape is known (StreamStarted).
        case ready(StreamDescription)
        case close(CloseReason)
    }

    public let configuration: Configuration
    public internal(set) var state = State.awaitingConnect
    public internal(set) var metadata = StreamMetadata()
    var videoTrack: TrackInfo?
    var audioTrack: TrackInfo?
    var announced = false
    var firstCodedTimestamp: Int64?
    var nextStreamID: UInt32 = 1
    var connectRefusal: String?
    var unsupportedCommands = 0
    var commandsBeforePublishing = 0
    var peerWindow: UInt32 = 0
    var lastAcknowledged: UInt64 = 0
    var videoClock = TimestampUnwrapper()
    var audioClock = TimestampUnwrapper()

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var tracks: [TrackInfo] { [videoTrack, audioTrack].compactMap { $0 } }

    public mutating func receive(_ message: RTMPMessage) -> [Action] {
        guard state != .closed else { return [] }
        do throws(RTMPProtocolError) {
            switch message.type {
            case .amf0Command:
                return try command(AMF0Decoder.decodeAll(message.payload), message: message)
            case .amf3Command:
                return try command(AMF0Decoder.decodeAll(Self.droppingAMF3Prefix(message.payload)), message: message)
            case .amf0Data:
                return try data(AMF0Decoder.decodeAll(message.payload))
            case .amf3Data:
                return try data(AMF0Decoder.decodeAll(Self.droppingAMF3Prefix(message.payload)))
            case .audio, .video:
                return try media(message)
            case .aggregate:
                return try aggregate(message)
            case .userControl:
                return userControl(message.payload)
            case .windowAcknowledgementSize:
                if let size = RTMPChunkDecoder.bigEndianU32(message.payload) { peerWindow = size }
                return []
            default:
                return []
            }
        } catch {
            return fail(error)
        }
    }

    /// Call after feeding bytes to the decoder: an Acknowledgement when the peer's window is used up.
    public mutating func bytesReceived(total: UInt64) -> RTMPMessage? {
        guard peerWindow > 0, total &- lastAcknowledged >= UInt64(peerWindow) else { return nil }
        lastAcknowledged = total
        return .acknowledgement(UInt32(truncatingIfNeeded: total))
    }

    /// The peer's bytes could not be parsed: tell the encoder when it is publishing, then close.
    public mutating func fail(_ error: RTMPProtocolError) -> [Action] {
        var actions: [Action] = []
        if case .publishing(let request) = state {
            actions.append(
                .send(
                    Self.onStatus(
                        level: "error", code: "NetStream.Publish.Failed", description: error.description,
                        messageStreamID: request.messageStreamID)))
        }
        state = .closed
        actions.append(.close(.protocolError(error.description)))
        return actions
    }

    private mutating func userControl(_ payload: [UInt8]) -> [Action] {
        // Event type (16), event data; a ping request's is a 32-bit timestamp.
        var reader = ByteReader(payload, structure: "User Control message")
        guard let event = try? reader.u16(), event == RTMPUserControlEvent.pingRequest.rawValue, let value = try? reader.u32()
        else { return [] }
        return [.send(.userControl(.pingResponse, value))]
    }

    /// An AMF3 command or data message is AMF0 behind a format byte of 0.
    static func droppingAMF3Prefix(_ payload: [UInt8]) -> ArraySlice<UInt8> {
        payload.first == 0 ? payload.dropFirst() : payload[...]
    }
}

/// Turns 32-bit RTMP timestamps, which wrap after 49.7 days, into a monotonic 64-bit count.
struct TimestampUnwrapper: Sendable {
    private var last: UInt32?
    private var epoch: Int64 = 0

    mutating func unwrap(_ raw: UInt32) -> Int64 {
        if let last, raw < last, last &- raw > 0x8000_0000 { epoch += 0x1_0000_0000 }
        last = raw
        return epoch + Int64(raw)
    }
}
