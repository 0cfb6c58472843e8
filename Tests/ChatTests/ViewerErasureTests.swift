import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Node
import TestSupport
import Testing

@testable import Chat

/// Issue 26, "erasure that keeps the proofs": names and texts are sealed under each viewer's key;
/// erasing a viewer (the admin API, `streamd viewers erase`) destroys it. Afterwards no byte of
/// what they wrote is in the database (a `pg_dump` searched), history, backlog and sockets show
/// `[erased]`, the hash chain verifies and the chat read model rebuilds to the live one.
@Suite struct ViewerErasureTests {
    static let admin = "admin-erasure-token"

    @Test(.timeLimit(.minutes(4))) func erasureLeavesNoPlaintextAndKeepsTheProofs() async throws {
        let url = try await TestDatabase.freshDatabase("chat-erasure")
        let store = try await EventStore.open(url: url, registry: .platform, logger: TestDatabase.logger)
        let platform = try await Platform(
            store: store,
            configuration: GatewayConfiguration(host: "127.0.0.1", port: 0, adminToken: Self.admin, rtmpPort: 0, srtPort: 0),
            media: .init(directory: FileManager.default.temporaryDirectory.appendingPathComponent("streamd-erasure-\(UUID())")),
            chat: ChatConfiguration(), logger: TestDatabase.logger)
        platform.start()
        do {
            try await Self.run(platform, store, url)
        } catch {
            await platform.shutdown()
            await store.shutdown()
            throw error
        }
        await platform.shutdown()
        await store.shutdown()
    }

    static func run(_ platform: Platform, _ store: EventStore, _ url: DatabaseURL) async throws {
        _ = try await platform.channels.create(name: "room", metadata: EventMetadata(actor: .admin))
        let app = platform.gateway.application(logger: TestDatabase.logger)
        try await app.test(.live) { client in
            guard let port = client.port else { throw TestSupportError("no port") }
            let base = "http://127.0.0.1:\(port)"
            let mark = UUID().uuidString.prefix(8).lowercased()
            let secrets = [
                "annName": "Zed\(mark)", "annText": "ann confides \(mark)-A", "annRefused": "ann refused \(mark)-R",
                "carlName": "Quy\(mark)", "carlText": "carl confides \(mark)-C",
                // A moderator's reason may quote what the user wrote: sealed under their key too.
                "carlReason": "you wrote carl confides \(mark)-T",
            ]
            let (bobName, bobText) = ("Bob\(mark)", "bob stays \(mark)-B")
            let (annId, annToken) = try await HTTP.viewer(base, secrets["annName"] ?? "")
            let (bobId, bobToken) = try await HTTP.viewer(base, bobName)
            let (carlId, carlToken) = try await HTTP.viewer(base, secrets["carlName"] ?? "")

            let reader = ChatTestClient("ws://127.0.0.1:\(port)/v1/chat/room")
            defer { reader.shutdown() }
            _ = try await reader.wait(for: "backlog")
            var ids: [String: String] = [:]
            for (who, token, text) in [
                ("ann", annToken, secrets["annText"] ?? ""), ("bob", bobToken, bobText), ("carl", carlToken, secrets["carlText"] ?? ""),
            ] {
                let socket = ChatTestClient("ws://127.0.0.1:\(port)/v1/chat/room?token=\(token)")
                defer { socket.shutdown() }
                _ = try await socket.wait(for: "authenticated")
                socket.send(#"{"type":"send","text":"\#(text)","nonce":"n1"}"#)
                ids[who] = try #require(try await socket.wait(for: "ack") { $0["nonce"] as? String == "n1" }["id"] as? String)
                if who == "ann" {
                    // A refusal records the text too (over 500 characters).
                    let long = (secrets["annRefused"] ?? "") + String(repeating: " padding", count: 70)
                    socket.send(#"{"type":"send","text":"\#(long)","nonce":"n2"}"#)
                    _ = try await socket.wait(for: "error") { $0["code"] as? String == "max_length" }
                }
                _ = try await reader.wait(for: "message") { $0["id"] as? String == ids[who] }
            }
            let annMessage = try #require(ids["ann"])
            let carlMessage = try #require(ids["carl"])
            let (timedOut, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: Self.admin,
                body: #"{"action":"timeout","userId":"\#(carlId)","seconds":600,"reason":"\#(secrets["carlReason"] ?? "")"}"#)
            #expect(timedOut == 200)

            // Sealed from the start: no event's data holds a name or a text.
            let logged = try await store.read(after: 0, limit: 10_000)
            #expect(logged.contains { $0.eventType == ChatMessageRejected.eventType && $0.dataText.contains(annId) })
            for (label, secret) in secrets.sorted(by: { $0.key < $1.key }) + [("bobText", bobText), ("bobName", bobName)] {
                #expect(
                    !logged.contains {
                        $0.dataText.contains(secret) || (try? EventCoding.encodeString($0.metadata))?.contains(secret) != false
                    },
                    "\(label) is in the log in plain text")
            }

            // Erase Ann over the admin API: a reason is required, an unknown viewer is 404.
            let (noReason, _) = try await HTTP.request("DELETE", base + "/v1/viewers/\(annId)", token: Self.admin)
            #expect(noReason == 400)
            let (unknown, _) = try await HTTP.request("DELETE", base + "/v1/viewers/u_nobody?reason=request%2041", token: Self.admin)
            #expect(unknown == 404)
            let (erased, body) = try await HTTP.request("DELETE", base + "/v1/viewers/\(annId)?reason=request%2042", token: Self.admin)
            #expect(erased == 200, "\(body)")
            #expect(body["keysDestroyed"] as? Int == 1)
            _ = try await reader.wait(for: "viewerErased") { $0["userId"] as? String == annId }

            // Erase Carl with the command line, beside the running node.
            let cli = try await Subprocess.runDetached(
                try Binaries.streamd(), ["viewers", "erase", carlId, "--reason", "request 43", "--json", "--database-url", url.urlString])
            #expect(cli.status == 0, "\(cli.output)")
            #expect(cli.output.contains(#""keysDestroyed" : 1"#), "\(cli.output)")
            _ = try await reader.wait(for: "viewerErased") { $0["userId"] as? String == carlId }

            // History and a fresh socket's backlog show both erased, Bob's message as it was.
            let (status, history) = try await HTTP.request("GET", base + "/v1/chat/room/history", token: nil)
            #expect(status == 200)
            let messages = (history["messages"] as? [[String: Any]]) ?? []
            for id in [annMessage, carlMessage] {
                let message = try #require(messages.first { $0["id"] as? String == id })
                #expect(message["text"] as? String == "[erased]" && message["name"] as? String == "[erased]")
                #expect(message["erased"] as? Bool == true)
            }
            #expect(messages.contains { $0["text"] as? String == bobText && $0["userId"] as? String == bobId })
            let fresh = ChatTestClient("ws://127.0.0.1:\(port)/v1/chat/room")
            defer { fresh.shutdown() }
            let backlog = (try await fresh.wait(for: "backlog")["messages"] as? [[String: Any]]) ?? []
            #expect(backlog.filter { $0["erased"] as? Bool == true }.count == 2, "\(backlog)")
            #expect(!fresh.received.joined().contains(secrets["annText"] ?? "?"))

            // The whole database, dumped: no byte of what Ann and Carl wrote or were called.
            await platform.chat.runner.waitUntil(try await store.headPosition())
            let dump = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-erasure-\(UUID()).sql")
            defer { try? FileManager.default.removeItem(at: dump) }
            let dumped = try await Subprocess.runDetached(try Self.pgDump(), ["--file", dump.path, "--dbname", url.urlString])
            #expect(dumped.status == 0, "\(dumped.output)")
            let bytes = try Data(contentsOf: dump)
            #expect(bytes.range(of: Data(bobText.utf8)) != nil, "the dump holds what was not erased")
            for (label, secret) in secrets.sorted(by: { $0.key < $1.key }) {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(label) is still in the database")
            }

            // The log is untouched: the chain verifies, and the read model rebuilds to the live one.
            let verified = try await HashChainVerifier(store: store).verify()
            guard case .verified = verified else { throw TestSupportError("events verify after erasure: \(verified)") }
            let report = try await ProjectionReplay(store: store, projection: ChatProjection()).run()
            #expect(report.isIdentical, "\(report)")
        }
    }

    /// Debian's newest pg_dump (the server is 15 here), or the one on the PATH.
    static func pgDump() throws -> String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let path = "/usr/lib/postgresql/\(version)/bin/pg_dump"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(folder)/pg_dump"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError("pg_dump not found: install postgresql-client (ops/install --tests)")
    }
}
