import EventStore
import Foundation

/// Adds and revokes admins by appending to the `admins` stream, each append expecting the version
/// it read, so two at once cannot both take a name. Works with or without a running node: nodes
/// follow the stream (`AdminDirectory`).
public struct AdminRegistry: Sendable {
    let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    public func roster() async throws -> AdminRoster {
        var roster = AdminRoster()
        var from: Int64 = 1
        while true {
            let page = try await store.readStream(AdminRoster.stream, fromVersion: from, limit: 1_000)
            for event in page { try roster.apply(event, registry: store.registry) }
            guard page.count == 1_000, let last = page.last else { return roster }
            from = last.streamVersion + 1
        }
    }

    /// Adds `name` and returns its token, which exists nowhere else (show it once), and the
    /// `admins` stream's version that added it.
    public func add(name: String, metadata: EventMetadata) async throws -> (token: String, version: Int64) {
        try AdminRoster.validate(name: name)
        let roster = try await roster()
        if roster.admins[name]?.isLive == true { throw AdminError.exists(name) }
        let token = AdminRoster.generateToken()
        let version = try await append(AdminAdded(name: name, tokenHash: AdminRoster.hashHex(token)), after: roster, metadata: metadata)
        return (token, version)
    }

    /// Returns the `admins` stream's version that revoked it.
    @discardableResult
    public func revoke(name: String, metadata: EventMetadata) async throws -> Int64 {
        let roster = try await roster()
        guard let admin = roster.admins[name] else { throw AdminError.notFound(name) }
        guard admin.isLive else { throw AdminError.alreadyRevoked(name) }
        return try await append(AdminRevoked(name: name), after: roster, metadata: metadata)
    }

    public enum OwnerOutcome: Sendable, Hashable {
        /// The token is a live admin's already.
        case unchanged
        /// `admin` was added with the token, or its token replaced.
        case recorded
        /// `admin` was revoked with this very token: it stays refused.
        case revoked
    }

    /// Makes the node's first-start token (DATA_DIR/admin-token, `--admin-token`) the admin
    /// `admin`'s, unless it is some live admin's already. A token that was revoked stays
    /// revoked; a new one (the file deleted, another `--admin-token`) brings `admin` back.
    public func ensureOwner(token: String, metadata: EventMetadata) async throws -> OwnerOutcome {
        let roster = try await roster()
        if roster.admin(presenting: token) != nil { return .unchanged }
        let hash = AdminRoster.hashHex(token)
        if let owner = roster.admins[AdminRoster.ownerName], !owner.isLive, owner.tokenHash == hash { return .revoked }
        _ = try await append(AdminAdded(name: AdminRoster.ownerName, tokenHash: hash), after: roster, metadata: metadata)
        return .recorded
    }

    private func append(_ event: some DomainEvent, after roster: AdminRoster, metadata: EventMetadata) async throws -> Int64 {
        try await store.append(
            event, to: AdminRoster.stream, expectedVersion: roster.version == 0 ? .noStream : .exact(roster.version),
            metadata: metadata
        ).streamVersion
    }
}
