import EventStore
import Foundation

/// Server → client frames (README, "Chat protocol").
public enum ServerMessage: Sendable, Hashable {
    case backlog([ChatMessageView])
    case message(ChatMessageView)
    case ack(nonce: String?, id: UUID)
    case deleted(id: UUID)
    case userTimedOut(userId: String, until: Date)
    case userBanned(userId: String)
    case userUnbanned(userId: String)
    /// The viewer was erased: their messages now read `[erased]` (a fresh backlog follows).
    case viewerErased(userId: String)
    case settings(ChatSettings)
    case error(code: String, message: String, nonce: String?, retryAfter: Date? = nil)
    case authenticated(userId: String, name: String, moderator: Bool)
    case pong

    private struct Typed<Body: Encodable>: Encodable {
        var type: String
        var body: Body
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(type, forKey: Key("type"))
            try body.encode(to: encoder)
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Fields: Encodable {
        var values: [(String, any Encodable & Sendable)]
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in values { try container.encode(value, forKey: Key(key)) }
        }
    }

    /// The frame's JSON text.
    public var json: String {
        let fields: Fields
        let type: String
        switch self {
        case .backlog(let messages): (type, fields) = ("backlog", Fields(values: [("messages", messages)]))
        case .message(let m):
            var values: [(String, any Encodable & Sendable)] = [
                ("id", m.id), ("userId", m.userId), ("name", m.name), ("text", m.text), ("sentAt", m.sentAt), ("position", m.position),
            ]
            if m.erased == true { values.append(("erased", true)) }
            (type, fields) = ("message", Fields(values: values))
        case .ack(let nonce, let id): (type, fields) = ("ack", Fields(values: [("nonce", nonce), ("id", id)]))
        case .deleted(let id): (type, fields) = ("deleted", Fields(values: [("id", id)]))
        case .userTimedOut(let userId, let until):
            (type, fields) = ("userTimedOut", Fields(values: [("userId", userId), ("until", until)]))
        case .userBanned(let userId): (type, fields) = ("userBanned", Fields(values: [("userId", userId)]))
        case .userUnbanned(let userId): (type, fields) = ("userUnbanned", Fields(values: [("userId", userId)]))
        case .viewerErased(let userId): (type, fields) = ("viewerErased", Fields(values: [("userId", userId)]))
        case .settings(let settings):
            (type, fields) = (
                "settings",
                Fields(values: [
                    ("slowModeSeconds", settings.slowModeSeconds), ("bannedWords", settings.bannedWords),
                    ("linkPolicy", settings.linkPolicy), ("allowedDomains", settings.allowedDomains),
                ])
            )
        case .error(let code, let message, let nonce, let retryAfter):
            var values: [(String, any Encodable & Sendable)] = [("code", code), ("message", message), ("nonce", nonce)]
            if let retryAfter { values.append(("retryAfter", retryAfter)) }
            (type, fields) = ("error", Fields(values: values))
        case .authenticated(let userId, let name, let moderator):
            (type, fields) = ("authenticated", Fields(values: [("userId", userId), ("name", name), ("moderator", moderator)]))
        case .pong: (type, fields) = ("pong", Fields(values: []))
        }
        let data = (try? EventCoding.encoder().encode(Typed(type: type, body: fields))) ?? Data("{\"type\":\"error\"}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
