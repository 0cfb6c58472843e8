/// One reassembled RTMP message (RTMP 1.0 §5.3/§6).
public struct RTMPMessage: Sendable, Hashable {
    public var typeID: UInt8
    /// The 32-bit RTMP timestamp in milliseconds; it wraps around.
    public var timestamp: UInt32
    public var messageStreamID: UInt32
    /// The chunk stream the message arrived on, or should be sent on.
    public var chunkStreamID: UInt32
    public var payload: [UInt8]

    public init(typeID: UInt8, timestamp: UInt32 = 0, messageStreamID: UInt32 = 0, chunkStreamID: UInt32, payload: [UInt8]) {
        self.typeID = typeID
        self.timestamp = timestamp
        self.messageStreamID = messageStreamID
        self.chunkStreamID = chunkStreamID
        self.payload = payload
    }

    public var type: RTMPMessageType? { RTMPMessageType(rawValue: typeID) }
}

public enum RTMPMessageType: UInt8, Sendable {
    case setChunkSize = 1
    case abort = 2
    case acknowledgement = 3
    case userControl = 4
    case windowAcknowledgementSize = 5
    case setPeerBandwidth = 6
    case audio = 8
    case video = 9
    case amf3Data = 15
    case amf3SharedObject = 16
    case amf3Command = 17
    case amf0Data = 18
    case amf0SharedObject = 19
    case amf0Command = 20
    case aggregate = 22
}

/// User Control message event types (RTMP 1.0 §7.1.7).
public enum RTMPUserControlEvent: UInt16, Sendable {
    case streamBegin = 0
    case streamEOF = 1
    case streamDry = 2
    case setBufferLength = 3
    case streamIsRecorded = 4
    case pingRequest = 6
    case pingResponse = 7
}

extension RTMPMessage {
    package static func bigEndian(_ value: UInt32) -> [UInt8] {
        [
            UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
            UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value),
        ]
    }

    public static func setChunkSize(_ size: UInt32) -> RTMPMessage {
        RTMPMessage(typeID: RTMPMessageType.setChunkSize.rawValue, chunkStreamID: 2, payload: bigEndian(size & 0x7FFF_FFFF))
    }

    public static func acknowledgement(_ sequenceNumber: UInt32) -> RTMPMessage {
        RTMPMessage(typeID: RTMPMessageType.acknowledgement.rawValue, chunkStreamID: 2, payload: bigEndian(sequenceNumber))
    }

    public static func windowAcknowledgementSize(_ size: UInt32) -> RTMPMessage {
        RTMPMessage(typeID: RTMPMessageType.windowAcknowledgementSize.rawValue, chunkStreamID: 2, payload: bigEndian(size))
    }

    /// Limit type 2 (dynamic).
    public static func setPeerBandwidth(_ size: UInt32, limitType: UInt8 = 2) -> RTMPMessage {
        RTMPMessage(typeID: RTMPMessageType.setPeerBandwidth.rawValue, chunkStreamID: 2, payload: bigEndian(size) + [limitType])
    }

    public static func userControl(_ event: RTMPUserControlEvent, _ value: UInt32) -> RTMPMessage {
        let type = event.rawValue
        return RTMPMessage(
            typeID: RTMPMessageType.userControl.rawValue, chunkStreamID: 2,
            payload: [UInt8(truncatingIfNeeded: type >> 8), UInt8(truncatingIfNeeded: type)] + bigEndian(value))
    }
}
