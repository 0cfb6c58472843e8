import EventStore
import Foundation

/// Client → server frames.
public enum ClientMessage: Sendable, Hashable {
    case send(text: String, nonce: String?)
    case auth(token: String)
    case ping

    public enum Parsed: Sendable, Hashable {
        case message(ClientMessage)
        /// What to answer instead.
        case invalid(ServerMessage)
    }

    private struct Wire: Decodable {
        var type: String
        var text: String?
        var nonce: String?
        var token: String?
    }

    /// Parses one text frame; the error is what to tell the client.
    public static func parse(_ text: String) -> Parsed {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(text.utf8)) else {
            return .invalid(
                .error(code: "invalid_json", message: "frames must be JSON objects with a \"type\": send, auth or ping", nonce: nil))
        }
        switch wire.type {
        case "send":
            guard let body = wire.text else {
                return .invalid(.error(code: "invalid_message", message: "a send needs a \"text\" string", nonce: wire.nonce))
            }
            return .message(.send(text: body, nonce: wire.nonce.map { String($0.prefix(64)) }))
        case "auth":
            guard let token = wire.token else {
                return .invalid(.error(code: "invalid_message", message: "an auth needs a \"token\" from POST /v1/viewers", nonce: nil))
            }
            return .message(.auth(token: token))
        case "ping":
            return .message(.ping)
        default:
            return .invalid(
                .error(code: "unknown_type", message: "unknown type \"\(wire.type.prefix(32))\"; use send, auth or ping", nonce: wire.nonce)
            )
        }
    }
}
