import EventStore
import Foundation
import TestSupport
import Testing

/// The `streamd` binary against a real database, as an operator would use it.
@Suite struct CLITests {
    func streamd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(try Binaries.streamd(), arguments)
    }

    @Test func channelsAndEventsCommands() async throws {
        let url = try await TestDatabase.freshDatabase("cli").urlString
        let created = try await streamd(["channels", "create", "studio", "--json", "--database-url", url])
        #expect(created.status == 0, "\(created.output)")
        let json = try JSONDecoder().decode([String: String].self, from: Data(created.output.utf8))
        #expect(json["name"] == "studio")
        #expect(json["streamKey"]?.hasPrefix("sk_") == true)

        let duplicate = try await streamd(["channels", "create", "studio", "--database-url", url])
        #expect(duplicate.status != 0)
        #expect(duplicate.output.contains("a channel named studio already exists"))

        let rotated = try await streamd(["channels", "rotate-key", "studio", "--reason", "test", "--database-url", url])
        #expect(rotated.status == 0)
        #expect(rotated.output.contains("new stream key for studio: sk_"))

        let list = try await streamd(["channels", "list", "--database-url", url])
        #expect(list.output.contains("studio\t"))
        #expect(list.output.contains("key active"))

        let events = try await streamd(["events", "list", "--database-url", url])
        let lines = events.output.split(separator: "\n")
        #expect(lines.count == 4, "\(events.output)")
        #expect(lines.first?.hasPrefix("1\t") == true)
        #expect(
            lines.map { $0.split(separator: "\t").dropFirst(3).first ?? "" } == [
                "ChannelCreated", "StreamKeyIssued", "StreamKeyRevoked", "StreamKeyIssued",
            ])
        #expect(lines.allSatisfy { $0.contains("admin:cli:") })

        let filtered = try await streamd(["events", "list", "--type", "StreamKeyRevoked", "--json", "--database-url", url])
        #expect(filtered.output.split(separator: "\n").count == 1)
        #expect(filtered.output.contains(#""reason":"test""#))

        let verify = try await streamd(["events", "verify", "--database-url", url])
        #expect(verify.status == 0)
        #expect(verify.output == "4 events verified")

        let replay = try await streamd(["events", "replay", "--projection", "channels", "--database-url", url])
        #expect(replay.status == 0)
        #expect(replay.output.hasSuffix("identical"))

        let unknown = try await streamd(["events", "replay", "--projection", "nope", "--database-url", url])
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("unknown projection \"nope\""))
    }

    @Test func helpIsComplete() async throws {
        for command in [["--help"], ["serve", "--help"], ["channels", "create", "--help"], ["events", "replay", "--help"]] {
            let result = try await streamd(command)
            #expect(result.status == 0)
            #expect(!result.output.isEmpty)
        }
        let serve = try await streamd(["serve", "--help"]).output
        for flag in ["--http-port", "--rtmp-port", "--srt-port", "--data-dir", "--database-url", "--admin-token", "STREAMD_DATABASE_URL"] {
            #expect(serve.contains(flag), "serve --help lacks \(flag)")
        }
    }

    @Test func embeddedClusterStartsAndStopsWithTheDataFolder() async throws {
        let dataDir = NSTemporaryDirectory() + "streamd-cli-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let first = try await streamd(["channels", "create", "embedded", "--data-dir", dataDir])
        #expect(first.status == 0, "\(first.output)")
        let port = try String(contentsOfFile: dataDir + "/postgres.port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((Int(port) ?? 99_999) < 32_768)
        // The CLI started the cluster, so it stopped it again; the next command reuses it.
        #expect(!FileManager.default.fileExists(atPath: dataDir + "/postgres/postmaster.pid"))
        let list = try await streamd(["channels", "list", "--data-dir", dataDir])
        #expect(list.output.contains("embedded\t"))
        #expect(
            try String(contentsOfFile: dataDir + "/postgres.port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == port)
        let attributes = try FileManager.default.attributesOfItem(atPath: dataDir + "/postgres.password")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}
