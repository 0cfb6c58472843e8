import EventStore
import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 26, item 2: every read model, SQL or in memory, rebuilt from position 0 equals the live
/// one by hash after a session with the live ladder, chat with moderation and a key rotation; and
/// the chat models as of a position mid-session show what was visible then.
@Suite struct ReplayAuditTests {
    static let sqlModels = ["channels", "dvr", "quality", "chat", "dashboard", "ingest-alerts"]

    func streamd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(try Binaries.streamd(), arguments)
    }

    @Test(.timeLimit(.minutes(4))) func everyReadModelRebuiltFromZeroEqualsLive() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let url = server.database.urlString
        _ = try await server.createChannel("audit")
        let rotated = try await server.admin("POST", "/v1/channels/audit/key?reason=leaked")
        #expect(rotated.status == 200, "\(rotated.text)")
        let key = try JSONDecoder().decode([String: String].self, from: rotated.body)["streamKey"] ?? ""

        let publisher = try server.startPublishing(key: key, seconds: 14, size: "854x480")
        var playlist = 0
        for _ in 0..<150 where playlist != 200 {
            playlist = try await server.get("/live/audit/index.m3u8").status
            if playlist != 200 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(playlist == 200, "the ladder never came up")

        // While it is live: the playback directory the node holds is what the log says.
        let playing = try await compareInMemory(server, "playback", attempts: 20)
        guard case .array(let streams)? = playing?.value?["streams"], case .array(let renditions)? = streams.first?["renditions"] else {
            Issue.record("no live stream in the playback directory: \(String(describing: playing))")
            return
        }
        #expect(streams.count == 1 && renditions.count >= 3, "the ladder and audio: \(renditions)")

        // Chat: two viewers post, the admin deletes one message and bans the other viewer.
        let ann = try await viewer(server, "ann")
        let bob = try await viewer(server, "bob")
        let ids = try await post(server, [(ann, "first from ann"), (ann, "second from ann"), (bob, "hello from bob")])
        let deleted = try await server.admin(
            "POST", "/v1/moderation/audit/actions",
            body: #"{"action":"delete","messageId":"\#(ids["second from ann"] ?? "")","reason":"off topic"}"#)
        #expect(deleted.status == 200, "\(deleted.text)")
        let deletePosition = Int64(try JSONDecoder().decode([String: String].self, from: deleted.body)["position"] ?? "") ?? 0
        #expect(deletePosition > 0)
        let banned = try await server.admin(
            "POST", "/v1/moderation/audit/actions", body: #"{"action":"ban","userId":"\#(bob.userId)","reason":"spam"}"#)
        #expect(banned.status == 200, "\(banned.text)")

        _ = try await onThread { publisher.wait() }
        // The session ends in the log and leaves the directory once its recording is finished.
        #expect(try await compareInMemory(server, "playback", attempts: 50) != nil, "playback directory after the session")

        for model in Self.sqlModels {
            let replay = try await streamd(["events", "replay", "--projection", model, "--database-url", url])
            #expect(replay.status == 0, "\(model): \(replay.output)")
            #expect(replay.output.contains("identical"), "\(model): \(replay.output)")
        }
        let rooms = try await compareInMemory(server, "chat-rooms", attempts: 5)
        #expect(rooms?.scope == ["audit"], "\(String(describing: rooms))")

        // Just before the delete: the message was visible, in the kept schema and over the API.
        let mid = deletePosition - 1
        let kept = try await streamd([
            "events", "replay", "--projection", "chat", "--as-of", "\(mid)", "--into", "audit_mid", "--diff", "--database-url", url,
        ])
        #expect(kept.status == 0, "\(kept.output)")
        #expect(kept.output.contains("into schema audit_mid"), "\(kept.output)")
        #expect(kept.output.contains("not \(mid): compared it with a rebuild as of"), "like with like: \(kept.output)")
        let visibleThen = try await SQL.column(
            server.database, "SELECT text FROM audit_mid.chat_messages WHERE deleted_position IS NULL ORDER BY position")
        #expect(visibleThen == ["first from ann", "second from ann", "hello from bob"], "\(visibleThen)")
        let visibleNow = try await SQL.column(
            server.database, "SELECT text FROM public.chat_messages WHERE deleted_position IS NULL ORDER BY position")
        #expect(visibleNow == ["first from ann", "hello from bob"], "\(visibleNow)")
        let schemas = try await streamd(["events", "replay", "--list", "--database-url", url])
        #expect(schemas.output.contains("audit_mid\tchat\tas of \(mid)"), "\(schemas.output)")
        let again = try await streamd([
            "events", "replay", "--projection", "chat", "--as-of", "\(mid)", "--into", "audit_mid", "--database-url", url,
        ])
        #expect(again.status != 0 && again.output.contains("already exists"), "\(again.output)")
        let refused = try await streamd(["events", "replay", "--drop", "public", "--database-url", url])
        #expect(refused.status != 0, "\(refused.output)")
        let dropped = try await streamd(["events", "replay", "--drop", "audit_mid", "--database-url", url])
        #expect(dropped.status == 0, "\(dropped.output)")
        #expect(try await SQL.column(server.database, "SELECT count(*)::text FROM pg_namespace WHERE nspname = 'audit_mid'") == ["0"])

        // The room as the node held it then, from the admin API, and now.
        let then = try await roomMessages(server, asOf: mid)
        #expect(then.filter { $0.removed == false }.map(\.text) == ["first from ann", "second from ann", "hello from bob"], "\(then)")
        let head = try await server.admin("GET", "/v1/audit/projections/chat-rooms/live?value=true")
        let position = try EventCoding.decoder().decode(AuditedValue.self, from: head.body).position
        let now = try await roomMessages(server, asOf: position)
        #expect(now.filter { $0.removed == false }.map(\.text) == ["first from ann"], "\(now)")

        let sqlPage = try await server.admin("GET", "/v1/audit/projections/chat?asOf=\(mid)&table=chat_messages")
        #expect(sqlPage.status == 200 && sqlPage.text.contains("second from ann"), "\(sqlPage.text)")
        let past = try await server.admin("GET", "/v1/audit/projections/chat?asOf=999999999")
        #expect(past.status == 400, "\(past.text)")
    }

    struct Viewer {
        var userId: String
        var token: String
    }

    func viewer(_ server: StreamdServer, _ name: String) async throws -> Viewer {
        let reply = try await StreamdServer.request("POST", server.base + "/v1/viewers", body: #"{"name":"\#(name)"}"#)
        guard reply.status == 201 else { throw TestSupportError("registering \(name): \(reply.status) \(reply.text)") }
        let json = try JSONDecoder().decode([String: String].self, from: reply.body)
        return Viewer(userId: json["userId"] ?? "", token: json["token"] ?? "")
    }

    /// Posts each text over the chat socket (Python's websocket-client); returns the message ids.
    func post(_ server: StreamdServer, _ posts: [(Viewer, String)]) async throws -> [String: String] {
        let script = """
            import json, sys, websocket
            url = sys.argv[1]
            posts = json.loads(sys.argv[2])
            def until(ws, kinds):
                while True:
                    message = json.loads(ws.recv())
                    if message["type"] in kinds:
                        return message
            ids = {}
            for index, (token, text) in enumerate(posts):
                ws = websocket.create_connection(url + "?token=" + token, timeout=15)
                until(ws, ["backlog"])
                ws.send(json.dumps({"type": "send", "text": text, "nonce": "n%d" % index}))
                answer = until(ws, ["ack", "error"])
                if answer["type"] != "ack":
                    sys.exit("refused: " + json.dumps(answer))
                ids[text] = answer["id"]
                ws.close()
            print(json.dumps(ids))
            """
        let list = String(decoding: try JSONEncoder().encode(posts.map { [$0.0.token, $0.1] }), as: UTF8.self)
        let run = try await Subprocess.runDetached(
            "/usr/bin/env", ["python3", "-c", script, "ws://127.0.0.1:\(server.http)/v1/chat/audit", list])
        guard run.status == 0, let line = run.output.split(separator: "\n").last else {
            throw TestSupportError("chat posts failed: \(run.output)")
        }
        return try JSONDecoder().decode([String: String].self, from: Data(line.utf8))
    }

    /// The node's live value of an in-memory model once the CLI found it equal to a rebuild from
    /// the log (nil, recorded as an issue, when it never did); a model that follows the media (the playback directory) is asked again until the log
    /// has caught up with it, a bounded number of times.
    func compareInMemory(_ server: StreamdServer, _ model: String, attempts: Int) async throws -> AuditedValue? {
        let file = NSTemporaryDirectory() + "streamd-live-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        var last = ""
        for _ in 0..<attempts {
            let live = try await server.admin("GET", "/v1/audit/projections/\(model)/live?value=true")
            guard live.status == 200 else { throw TestSupportError("\(model) live: \(live.status) \(live.text)") }
            try live.body.write(to: URL(fileURLWithPath: file))
            let replay = try await streamd([
                "events", "replay", "--projection", model, "--live", file, "--database-url", server.database.urlString,
            ])
            if replay.status == 0, replay.output.contains("identical") {
                return try EventCoding.decoder().decode(AuditedValue.self, from: live.body)
            }
            last = replay.output
            try await Task.sleep(for: .milliseconds(300))
        }
        Issue.record("\(model) never matched: \(last)")
        return nil
    }

    struct Message: Decodable, CustomStringConvertible {
        var text: String
        var removed: Bool
        var description: String { "\(text)\(removed ? " (removed)" : "")" }
    }

    func roomMessages(_ server: StreamdServer, asOf position: Int64) async throws -> [Message] {
        let reply = try await server.admin("GET", "/v1/audit/projections/chat-rooms?asOf=\(position)&scope=audit")
        guard reply.status == 200 else { throw TestSupportError("chat-rooms as of \(position): \(reply.status) \(reply.text)") }
        let value = try EventCoding.decoder().decode(AuditedValue.self, from: reply.body)
        guard case .array(let rooms)? = value.value?["rooms"], case .object(let room)? = rooms.first,
            case .array(let recent)? = room["recent"]
        else { throw TestSupportError("no room in \(reply.text)") }
        return recent.compactMap { entry in
            guard let text = entry["text"]?.stringValue else { return nil }
            return Message(text: text, removed: entry["removed"] != nil && entry["removed"] != .null)
        }
    }
}
