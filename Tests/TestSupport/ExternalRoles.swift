import EventStore
import Foundation

/// An owner and an application role, and a database the owner owns, made in the throwaway server
/// as docs/event-log.md#database-roles tells an operator; the names are unique (roles are the
/// whole cluster's, and tests run side by side) and `drop()` removes all three.
public struct ExternalRoles: Sendable {
    public let server: DatabaseURL
    public let database: String
    public let owner: DatabaseURL
    public let application: DatabaseURL

    public static func make(prefix: String) async throws -> ExternalRoles {
        let server = try TestDatabase.serverURL()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (ownerRole, applicationRole, name) = ("\(prefix)_owner_\(suffix)", "\(prefix)_app_\(suffix)", "\(prefix)_\(suffix)")
        try await SQL.execute(
            server, "CREATE ROLE \(ownerRole) LOGIN PASSWORD 'owner-secret'", "CREATE ROLE \(applicationRole) LOGIN PASSWORD 'app-secret'",
            "CREATE DATABASE \(name) OWNER \(ownerRole)")
        var owner = server.with(database: name)
        (owner.username, owner.password) = (ownerRole, "owner-secret")
        var application = server.with(database: name)
        (application.username, application.password) = (applicationRole, "app-secret")
        try await SQL.execute(server.with(database: name), "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        return ExternalRoles(server: server, database: name, owner: owner, application: application)
    }

    public func drop() async throws {
        try await SQL.execute(server, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        for role in [application.username, owner.username] { try await SQL.execute(server, "DROP ROLE IF EXISTS \(role)") }
    }
}
