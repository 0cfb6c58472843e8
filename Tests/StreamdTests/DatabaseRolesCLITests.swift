import EventStore
import Foundation
import TestSupport
import Testing

/// `--database-owner-url` as an operator uses it, on roles made with docs/event-log.md's SQL.
@Suite struct DatabaseRolesCLITests {
    func streamd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(try Binaries.streamd(), arguments)
    }

    @Test func theOwnerMigratesAndTheApplicationsRoleRunsTheCommands() async throws {
        let roles = try await ExternalRoles.make(prefix: "cli")
        let (owner, application) = (roles.owner, roles.application)
        do {
            let alone = try await streamd(["channels", "list", "--database-owner-url", owner.urlString, "--data-dir", "/nonexistent"])
            #expect(alone.status != 0 && alone.output.contains("needs --database-url"), "\(alone.output)")

            let created = try await streamd([
                "channels", "create", "studio", "--database-url", application.urlString, "--database-owner-url", owner.urlString,
            ])
            #expect(created.status == 0, "\(created.output)")
            for command in [["events", "verify"], ["events", "replay", "--projection", "channels"]] {
                let result = try await streamd(command + ["--database-url", application.urlString])
                #expect(result.status == 0, "\(command): \(result.output)")
            }
            #expect(try await SQL.refusal(application, "UPDATE events SET stream_id = 'x'") == "42501")

            // A kept rebuild needs a role that may create schemas: the owner makes it, and the
            // application's role may read it.
            let kept = ["events", "replay", "--projection", "channels", "--as-of", "2", "--into", "kept_cli"]
            let refused = try await streamd(kept + ["--database-url", application.urlString])
            #expect(refused.status != 0 && refused.output.contains("cannot create schema kept_cli"), "\(refused.output)")
            let made = try await streamd(kept + ["--database-url", application.urlString, "--database-owner-url", owner.urlString])
            #expect(made.status == 0, "\(made.output)")
            #expect(try await SQL.column(application, "SELECT name FROM kept_cli.channels") == ["studio"])
            let dropped = try await streamd([
                "events", "replay", "--drop", "kept_cli", "--database-url", application.urlString, "--database-owner-url", owner.urlString,
            ])
            #expect(dropped.status == 0, "\(dropped.output)")
        } catch {
            try await roles.drop()
            throw error
        }
        try await roles.drop()
    }
}
