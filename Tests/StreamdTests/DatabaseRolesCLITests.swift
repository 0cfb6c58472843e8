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

            // Archiving removes rows: only the owner may. The channel's first event goes (its key's
            // event stays, the last of the stream), and archive plus live verify.
            let folder = NSTemporaryDirectory() + "streamd-cli-archive-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let archive = ["events", "archive", "--through", "1", "--type", "ChannelCreated", "--data-dir", folder]
            let denied = try await streamd(archive + ["--out", folder + "/denied.archive", "--database-url", application.urlString])
            #expect(denied.status != 0 && denied.output.contains("--database-owner-url"), "\(denied.output)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/denied.archive"))
            let archived = try await streamd(
                archive + [
                    "--out", folder + "/one.archive", "--database-url", application.urlString, "--database-owner-url", owner.urlString,
                ])
            #expect(archived.status == 0 && archived.output.contains("archived 1 events"), "\(archived.output)")
            let checkpoint = try await streamd([
                "events", "checkpoint", "--out", folder + "/cp", "--data-dir", folder, "--database-url", application.urlString,
            ])
            #expect(checkpoint.status == 0, "\(checkpoint.output)")
            let verified = try await streamd([
                "events", "verify", "--checkpoint", folder + "/cp", "--archive", folder + "/one.archive", "--data-dir", folder,
                "--database-url", application.urlString,
            ])
            #expect(verified.status == 0 && verified.output.contains("1 archived events read"), "\(verified.output)")
            let chain = try await streamd(["events", "verify", "--database-url", application.urlString])
            #expect(chain.status == 0, "\(chain.output)")
            let vkey = try await streamd(["events", "key", "--data-dir", folder]).output.trimmingCharacters(in: .whitespacesAndNewlines)
            let offline = try await streamd(["verify-export", folder + "/one.archive", "--key", vkey])
            #expect(offline.status == 0 && offline.output.contains("archive verified: its 1 events"), "\(offline.output)")
        } catch {
            try await roles.drop()
            throw error
        }
        try await roles.drop()
    }
}
