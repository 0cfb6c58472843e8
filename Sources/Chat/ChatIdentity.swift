import EventStore
import Foundation

/// Who is on a socket or calling a moderation route.
public struct ChatIdentity: Sendable, Hashable {
    public var userId: String
    public var name: String
    /// An admin's token: moderator everywhere.
    public var isAdmin: Bool
    /// Which admin (`streamd admins list`), for the events they cause.
    public var adminName: String?

    public init(userId: String, name: String, isAdmin: Bool = false, adminName: String? = nil) {
        self.userId = userId
        self.name = name
        self.isAdmin = isAdmin
        self.adminName = isAdmin ? adminName : nil
    }

    public static let admin = ChatIdentity(userId: "admin", name: "admin", isAdmin: true)

    /// An admin: `admin` in the room, named in the log.
    public static func admin(named name: String) -> ChatIdentity {
        ChatIdentity(userId: "admin", name: "admin", isAdmin: true, adminName: name)
    }

    /// Who this is in an event's metadata.
    public var actor: EventActor {
        isAdmin ? .admin(named: adminName ?? "admin") : EventActor(.user, id: userId)
    }
}

/// Viewer names: 2–32 characters after NFKC, no control characters, no banned names.
public enum ViewerName {
    public static let reserved = [
        "admin", "administrator", "moderator", "mod", "system", "streamd", "root", "staff", "support", "official",
    ]

    public static func validate(_ raw: String, banned: [String] = []) throws(ChatError) -> String {
        let name = TextNormalizer.nfkc(raw).trimmingCharacters(in: .whitespaces)
        guard (2...32).contains(name.count) else { throw .invalidName("use 2 to 32 characters") }
        guard
            !name.unicodeScalars.contains(where: {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .format || $0 == "\u{2028}"
                    || $0 == "\u{2029}"
            })
        else {
            throw .invalidName("control and invisible characters are not allowed")
        }
        let words = TextNormalizer.words(name)
        guard !words.isEmpty else { throw .invalidName("use at least one letter or digit") }
        let joined = words.joined()
        for bannedName in reserved + banned {
            let bannedWords = TextNormalizer.words(bannedName)
            if bannedWords.isEmpty { continue }
            if joined == bannedWords.joined() || words.contains(bannedWords.joined()) {
                throw .invalidName("\"\(name)\" is reserved or not allowed; choose another")
            }
        }
        return name
    }
}
