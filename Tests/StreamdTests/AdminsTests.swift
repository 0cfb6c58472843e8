import EventStore
import Foundation
import TestSupport
import Testing

/// Named admins and causality, against the server binary: `streamd admins` beside a running node,
/// and a key revocation that ends a live publish in the revoking request's correlation.
@Suite struct AdminsTests {
    typealias Reply = StreamdServer.Reply

    func streamd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(try Binaries.streamd(), arguments)
    }

    func log(_ server: StreamdServer) async throws -> [RecordedEvent] {
        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        return try await store.read(after: 0, limit: 10_000)
    }

    @Test(.timeLimit(.minutes(2))) func twoAdminsAreEachNamedAndARevokedOneIsRefusedAtOnce() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let url = server.database.urlString
        var tokens: [String: String] = [:]
        for name in ["alice", "bob"] {
            let added = try await streamd(["admins", "add", name, "--json", "--database-url", url])
            #expect(added.status == 0, "\(added.output)")
            tokens[name] = try JSONDecoder().decode([String: String].self, from: Data(added.output.utf8))["token"]
        }
        let again = try await streamd(["admins", "add", "alice", "--database-url", url])
        #expect(again.status != 0 && again.output.contains("already exists"), "\(again.output)")

        func call(_ token: String?, _ method: String, _ path: String, body: String? = nil, id: String? = nil) async throws -> Reply {
            var headers: [String: String] = [:]
            if let token { headers["Authorization"] = "Bearer \(token)" }
            if let id { headers["X-Request-Id"] = id }
            return try await StreamdServer.request(method, server.base + path, headers: headers, body: body)
        }
        let byAlice = try await call(tokens["alice"], "POST", "/v1/channels", body: #"{"name":"alpha"}"#, id: "alice-1")
        #expect(byAlice.status == 201, "\(byAlice.text)")
        #expect(byAlice.headers["x-request-id"] == "alice-1")
        let byBob = try await call(tokens["bob"], "POST", "/v1/channels", body: #"{"name":"beta"}"#)
        #expect(byBob.status == 201, "\(byBob.text)")
        let bobsID = try #require(byBob.headers["x-request-id"])
        #expect(try await call(server.token, "GET", "/v1/channels").status == 200, "the first-start token is the admin `admin`")

        let revoke = try await streamd(["admins", "revoke", "alice", "--reason", "left the team", "--database-url", url])
        #expect(revoke.status == 0, "\(revoke.output)")
        // The node follows the log: the revocation reaches it within moments, not at a restart.
        var status = 200
        for _ in 0..<250 where status != 401 {
            status = try await call(tokens["alice"], "GET", "/v1/channels").status
            if status != 401 { try await Task.sleep(for: .milliseconds(40)) }
        }
        #expect(status == 401, "a revoked admin's token is refused by the running server")
        #expect(try await call(tokens["bob"], "GET", "/v1/channels").status == 200)

        let list = try await streamd(["admins", "list", "--database-url", url])
        #expect(list.status == 0, "\(list.output)")
        let lines = list.output.split(separator: "\n")
        #expect(lines.first { $0.hasPrefix("admin\t") }?.contains("by system:serve") == true, "\(list.output)")
        #expect(lines.first { $0.hasPrefix("alice\t") }?.contains("revoked") == true, "\(list.output)")
        #expect(lines.first { $0.hasPrefix("alice\t") }?.contains("left the team") == true, "\(list.output)")
        #expect(lines.first { $0.hasPrefix("bob\t") }?.hasSuffix("live") == true, "\(list.output)")
        #expect(!list.output.contains(tokens["alice"] ?? "-"))

        let events = try await log(server)
        let alpha = try #require(events.first { $0.eventType == "ChannelCreated" && $0.dataText.contains("alpha") })
        #expect(alpha.metadata.actor.description == "admin:alice")
        #expect(alpha.metadata.requestId == "alice-1")
        let beta = try #require(events.first { $0.eventType == "ChannelCreated" && $0.dataText.contains("beta") })
        #expect(beta.metadata.actor.description == "admin:bob")
        #expect(beta.metadata.requestId == bobsID)
        #expect(beta.metadata.correlationId == UUID(uuidString: bobsID))
        let revoked = try #require(events.first { $0.eventType == "AdminRevoked" })
        #expect(revoked.metadata.actor.description.hasPrefix("admin:cli:"))
        #expect(revoked.metadata.reason == "left the team")
        for token in tokens.values + [server.token] {
            #expect(!events.contains { $0.dataText.contains(token) }, "no token in the log")
        }
    }

    @Test(.timeLimit(.minutes(2))) func revokingALiveKeyEndsTheSessionInTheRequestsCorrelation() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("revoked-live")
        let publisher = try server.startPublishing(key: key, seconds: 60, size: "320x180")
        defer { _ = publisher.stop(signal: SIGKILL) }
        var live = false
        for _ in 0..<150 where !live {
            live = try await server.admin("GET", "/v1/streams").text.contains(#""channelName":"revoked-live""#)
            if !live { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(live, "ffmpeg's publish went live")

        let revoke = try await StreamdServer.request(
            "DELETE", server.base + "/v1/channels/revoked-live/key?reason=leaked",
            headers: ["Authorization": "Bearer \(server.token)", "X-Request-Id": "revoke-live-key-1"])
        #expect(revoke.status == 204, "\(revoke.text)")
        #expect(revoke.headers["x-request-id"] == "revoke-live-key-1")

        var events: [RecordedEvent] = []
        for _ in 0..<150 where !events.contains(where: { $0.eventType == "StreamEnded" }) {
            events = try await log(server)
            if !events.contains(where: { $0.eventType == "StreamEnded" }) { try await Task.sleep(for: .milliseconds(100)) }
        }
        let revoked = try #require(events.first { $0.eventType == "StreamKeyRevoked" })
        let ended = try #require(events.first { $0.eventType == "StreamEnded" })
        #expect(revoked.metadata.requestId == "revoke-live-key-1")
        #expect(revoked.metadata.actor.description == "admin:admin")
        #expect(revoked.metadata.reason == "leaked")
        let correlation = try #require(revoked.metadata.correlationId)
        #expect(ended.dataText.contains(#""reason": "kicked""#) || ended.dataText.contains(#""reason":"kicked""#), "\(ended.dataText)")
        #expect(ended.metadata.correlationId == correlation, "the kick's end carries the revoking request's correlation")
        #expect(ended.metadata.causationId == revoked.eventId, "and names the revocation as its cause")
        #expect(ended.metadata.requestId == "revoke-live-key-1")
        #expect(ended.metadata.actor.description == "admin:admin")
        #expect(ended.position > revoked.position)
    }

    /// Chat carries the request too: a socket's posts are correlated with the request that opened
    /// it, a moderation over REST with its own.
    @Test(.timeLimit(.minutes(2))) func chatPostsAndModerationCarryTheirRequestsIds() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        _ = try await server.createChannel("talk")
        let script = """
            import json, sys, websocket
            ws = websocket.create_connection(sys.argv[1], header=["X-Request-Id: socket-7"], timeout=15)
            def until(kinds):
                while True:
                    message = json.loads(ws.recv())
                    if message["type"] in kinds:
                        return message
            until(["backlog"])
            ws.send(json.dumps({"type": "auth", "token": sys.argv[2]}))
            until(["authenticated"])
            ws.send(json.dumps({"type": "send", "text": "correlate me", "nonce": "n1"}))
            print(until(["ack", "error"]).get("id"))
            """
        let posted = try await Subprocess.runDetached(
            "/usr/bin/env", ["python3", "-c", script, "ws://127.0.0.1:\(server.http)/v1/chat/talk", server.token])
        let messageID = posted.output.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        #expect(posted.status == 0 && UUID(uuidString: messageID) != nil, "\(posted.output)")

        let removed = try await StreamdServer.request(
            "POST", server.base + "/v1/moderation/talk/actions",
            headers: ["Authorization": "Bearer \(server.token)", "X-Request-Id": "takedown-3"],
            body: #"{"action":"delete","messageId":"\#(messageID)","reason":"off topic"}"#)
        #expect(removed.status == 200, "\(removed.text)")

        let events = try await log(server)
        let post = try #require(events.first { $0.eventType == "ChatMessagePosted" }, "\(events.map(\.eventType))")
        #expect(post.metadata.requestId == "socket-7")
        #expect(post.metadata.correlationId != nil)
        let deleted = try #require(events.first { $0.eventType == "ChatMessageDeleted" })
        #expect(deleted.metadata.requestId == "takedown-3")
        #expect(deleted.metadata.correlationId != nil && deleted.metadata.correlationId != post.metadata.correlationId)
    }
}
