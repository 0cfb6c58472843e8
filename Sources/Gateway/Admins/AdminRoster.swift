import Channels
import EventStore
import Foundation

/// The admin identities as the `admins` stream says: a fold of `AdminAdded` and `AdminRevoked`,
/// the same on every node and in the CLI. Tokens are known only by their SHA-256.
public struct AdminRoster: Sendable, Hashable {
    public struct Admin: Sendable, Hashable, Codable {
        public var name: String
        /// Lowercase hex SHA-256 of the token.
        public var tokenHash: String
        /// When the name was first added, and by whom (`admin:NAME`, `admin:cli:USER`, `system:serve`).
        public var addedAt: Date
        public var addedBy: String
        /// When the current token was given (later than `addedAt` once replaced).
        public var tokenSince: Date
        public var revokedAt: Date?
        public var revokedBy: String?
        public var revokedReason: String?

        public var isLive: Bool { revokedAt == nil }
    }

    /// An admin as `GET /v1/admins` and `streamd admins list --json` show it: never the token's hash.
    public struct Listing: Encodable, Sendable {
        public var name: String
        public var addedAt: Date
        public var addedBy: String
        public var tokenSince: Date
        public var revokedAt: Date?
        public var revokedBy: String?
        public var revokedReason: String?
        /// When this node last accepted the admin's token or console session (since it started).
        public var lastUsedOnThisNode: Date?

        public init(_ admin: Admin, lastUsedOnThisNode: Date? = nil) {
            (name, addedAt, addedBy, tokenSince) = (admin.name, admin.addedAt, admin.addedBy, admin.tokenSince)
            (revokedAt, revokedBy, revokedReason) = (admin.revokedAt, admin.revokedBy, admin.revokedReason)
            self.lastUsedOnThisNode = lastUsedOnThisNode
        }
    }

    /// By name.
    public private(set) var admins: [String: Admin] = [:]
    /// The version of the `admins` stream folded so far (0: none).
    public private(set) var version: Int64 = 0

    public init() {}

    /// The name of the first-start admin (the token in DATA_DIR/admin-token or `--admin-token`).
    public static let ownerName = "admin"
    public static let stream = "admins"
    public static let eventTypes = [AdminAdded.eventType, AdminRevoked.eventType]

    /// Folds one event of the `admins` stream; one already folded (by version) is skipped.
    public mutating func apply(_ event: RecordedEvent, registry: EventRegistry) throws {
        guard event.streamId == Self.stream, event.streamVersion > version else { return }
        switch event.eventType {
        case AdminAdded.eventType:
            let added = try registry.decode(event, as: AdminAdded.self)
            apply(added, at: event.recordedAt, by: event.metadata.actor.description)
        case AdminRevoked.eventType:
            let revoked = try registry.decode(event, as: AdminRevoked.self)
            apply(revoked, at: event.recordedAt, by: event.metadata.actor.description, reason: event.metadata.reason)
        default:
            break
        }
        version = event.streamVersion
    }

    /// A name added again replaces its token, and brings a revoked name back.
    public mutating func apply(_ added: AdminAdded, at time: Date, by actor: String) {
        if var admin = admins[added.name], admin.isLive {
            admin.tokenHash = added.tokenHash
            admin.tokenSince = time
            admins[added.name] = admin
        } else {
            admins[added.name] = Admin(
                name: added.name, tokenHash: added.tokenHash, addedAt: time, addedBy: actor, tokenSince: time)
        }
    }

    public mutating func apply(_ revoked: AdminRevoked, at time: Date, by actor: String, reason: String?) {
        guard var admin = admins[revoked.name], admin.isLive else { return }
        admin.revokedAt = time
        admin.revokedBy = actor
        admin.revokedReason = reason
        admins[revoked.name] = admin
    }

    /// The live admin whose token is `token`. Every live admin's hash is compared in constant
    /// time, and all of them are compared, so the answer's timing says nothing about which.
    public func admin(presenting token: String) -> Admin? {
        let presented = StreamKey.hash(token)
        var found: Admin?
        for admin in admins.values where admin.isLive {
            if StreamKey.constantTimeEqual(presented, StreamKey.hashBytes(hex: admin.tokenHash)) { found = admin }
        }
        return found
    }

    /// Names sorted, live and revoked.
    public var sorted: [Admin] { admins.values.sorted { $0.name < $1.name } }

    /// 1–32 characters: lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    public static func validate(name: String) throws(AdminError) {
        let bytes = Array(name.utf8)
        guard (1...32).contains(bytes.count), let first = bytes.first, Self.isAlphanumeric(first),
            bytes.allSatisfy({ Self.isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else { throw .invalidName(name) }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// A new admin token: `st_` and 32 random bytes, base64url.
    public static func generateToken() -> String {
        "st_" + StreamKey.generate().text.dropFirst("sk_".count)
    }

    public static func hashHex(_ token: String) -> String {
        StreamKey(text: token).hashHex
    }
}

public enum AdminError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidName(String)
    case exists(String)
    case notFound(String)
    case alreadyRevoked(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "\"\(name.prefix(40))\" is not an admin name: use 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
        case .exists(let name):
            "admin \(name) already exists; choose another name, or revoke it first (`streamd admins revoke \(name)`)"
        case .notFound(let name): "there is no admin named \(name); `streamd admins list` shows them"
        case .alreadyRevoked(let name): "admin \(name) is already revoked; add a new admin with `streamd admins add NAME`"
        }
    }
}
