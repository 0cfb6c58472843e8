/// Why bytes from an RTMP peer could not be read: the connection closes with this as the reason.
public struct RTMPProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Stage: String, Sendable, Hashable {
        case handshake, chunk, amf, flv, command
    }

    public var stage: Stage
    public var reason: String

    public init(_ stage: Stage, _ reason: String) {
        self.stage = stage
        self.reason = reason
    }

    public var description: String { "RTMP \(stage.rawValue) error: \(reason)" }
}
