import Chat
import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Node
import TestSupport
import Testing

/// The chat through real sockets against a real PostgreSQL: the whole protocol and every
/// moderation rule and action.
@Suite struct ChatSocketTests {
    func withPlatform(
        _ label: String, chat: ChatConfiguration = ChatConfiguration(socketQueue: 512),
        _ body: @Sendable (Platform, String) async throws -> Void
    ) async throws {
        let store = try await TestDatabase.makeStore(label, registry: .platform)
        let platform = try await Platform(
            store: store, configuration: GatewayConfiguration(host: "127.0.0.1", port: 0, adminToken: "admin-t", rtmpPort: 0, srtPort: 0),
            media: .init(directory: FileManager.default.temporaryDirectory.appendingPathComponent("streamd-chat-\(UUID())")),
            chat: chat, logger: TestDatabase.logger)
        platform.start()
        _ = try await platform.channels.create(name: "room", metadata: EventMetadata(actor: .admin))
        let app = platform.gateway.application(logger: TestDatabase.logger)
        do {
            try await app.test(.live) { client in
                guard let port = client.port else { throw TestSupportError("no port") }
                try await body(platform, "127.0.0.1:\(port)")
            }
        } catch {
            await platform.shutdown()
            await store.shutdown()
            throw error
        }
        await platform.shutdown()
        await store.shutdown()
    }

    func events(_ store: EventStore, _ type: String) async throws -> [RecordedEvent] {
        try await store.read(after: 0, limit: 10_000, filter: EventFilter(types: [type]))
    }

    @Test(.timeLimit(.minutes(3))) func postingModerationAndHistory() async throws {
        try await withPlatform("chat-socket") { platform, host in
            let base = "http://\(host)"
            let (annId, annToken) = try await HTTP.viewer(base, "Ann")
            let (bobId, bobToken) = try await HTTP.viewer(base, "bob")
            let (status, _) = try await HTTP.request("POST", base + "/v1/viewers", token: nil, body: #"{"name":"Adm1n"}"#)
            #expect(status == 400, "reserved names are refused")

            // A reader with no token reads but cannot post.
            let reader = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { reader.shutdown() }
            _ = try await reader.wait(for: "backlog")
            reader.send(#"{"type":"send","text":"hi","nonce":"r1"}"#)
            _ = try await reader.wait(for: "error") { $0["code"] as? String == "unauthenticated" }
            reader.send(#"{"type":"ping"}"#)
            _ = try await reader.wait(for: "pong")

            let ann = ChatTestClient("ws://\(host)/v1/chat/room?token=\(annToken)")
            defer { ann.shutdown() }
            _ = try await ann.wait(for: "authenticated")
            ann.send(#"{"type":"send","text":"hello everyone","nonce":"a1"}"#)
            let ack = try await ann.wait(for: "ack") { $0["nonce"] as? String == "a1" }
            let firstId = try #require(ack["id"] as? String)
            let delivered = try await reader.wait(for: "message") { $0["id"] as? String == firstId }
            #expect(delivered["name"] as? String == "Ann")
            #expect(delivered["userId"] as? String == annId)
            #expect((delivered["position"] as? Int ?? 0) > 0)
            // Durable before visible: the event is in the log.
            #expect(
                try await events(platform.store, "ChatMessagePosted").contains { $0.dataText.lowercased().contains(firstId.lowercased()) })

            // The admin token is not taken from a URL (issue "lock the doors"): it goes in an auth frame.
            let leaky = ChatTestClient("ws://\(host)/v1/chat/room?token=admin-t")
            defer { leaky.shutdown() }
            _ = try await leaky.wait(for: "error") { $0["code"] as? String == "admin_token_in_url" }
            leaky.send(#"{"type":"auth","token":"admin-t"}"#)
            _ = try await leaky.wait(for: "authenticated")

            // Bob authenticates by message; a second "ann" is refused (names unique per room).
            let bob = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { bob.shutdown() }
            _ = try await bob.wait(for: "backlog") { ($0["messages"] as? [Any])?.count == 1 }
            bob.send(#"{"type":"auth","token":"\#(bobToken)"}"#)
            _ = try await bob.wait(for: "authenticated")
            let (_, ann2Token) = try await HTTP.viewer(base, "ANN")
            let impostor = ChatTestClient("ws://\(host)/v1/chat/room?token=\(ann2Token)")
            defer { impostor.shutdown() }
            _ = try await impostor.wait(for: "error") { $0["code"] as? String == "name_taken" }

            // Rules, each answered with an error naming it; all but rate limiting are logged.
            bob.send(#"{"type":"send","text":"\#(String(repeating: "x", count: 501))","nonce":"b1"}"#)
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "max_length" && $0["nonce"] as? String == "b1" }
            bob.send(#"{"type":"send","text":"one","nonce":"b2"}"#)
            _ = try await bob.wait(for: "ack") { $0["nonce"] as? String == "b2" }
            bob.send(#"{"type":"send","text":"one","nonce":"b3"}"#)
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "duplicate" && $0["nonce"] as? String == "b3" }
            for index in 4...9 { bob.send(#"{"type":"send","text":"burst \#(index)","nonce":"b\#(index)"}"#) }
            let limited = try await bob.wait(for: "error") { $0["code"] as? String == "rate_limited" }
            #expect(limited["retryAfter"] != nil)
            try await Task.sleep(for: .seconds(6))

            // Settings: only moderators; slow mode, banned words, links.
            let (forbidden, _) = try await HTTP.request(
                "PUT", base + "/v1/moderation/room/settings", token: bobToken, body: #"{"slowModeSeconds":5}"#)
            #expect(forbidden == 403)
            let (granted, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/moderators", token: "admin-t", body: #"{"userId":"\#(annId)"}"#)
            #expect(granted == 201)
            let (changed, settings) = try await HTTP.request(
                "PUT", base + "/v1/moderation/room/settings", token: annToken,
                body: #"{"bannedWords":["frack"],"linkPolicy":"domains","allowedDomains":["example.com"]}"#)
            #expect(changed == 200, "\(settings)")
            _ = try await reader.wait(for: "settings") { ($0["bannedWords"] as? [String]) == ["frack"] }
            bob.send(#"{"type":"send","text":"what the fr4ck","nonce":"c7"}"#)
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "banned_word" }
            bob.send(#"{"type":"send","text":"see https://evil.test/x","nonce":"c8"}"#)
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "link" }
            bob.send(#"{"type":"send","text":"see https://www.example.com/x","nonce":"c9"}"#)
            _ = try await bob.wait(for: "ack") { $0["nonce"] as? String == "c9" }
            _ = try await HTTP.request("PUT", base + "/v1/moderation/room/settings", token: annToken, body: #"{"slowModeSeconds":30}"#)
            _ = try await reader.wait(for: "settings") { $0["slowModeSeconds"] as? Int == 30 }
            bob.send(#"{"type":"send","text":"and again","nonce":"c10"}"#)
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "slow_mode" }
            let rejected = try await events(platform.store, "ChatMessageRejected").map(\.dataText)
            for rule in ["max_length", "duplicate", "banned_word", "link", "slow_mode"] {
                #expect(rejected.contains { $0.contains(#""\#(rule)""#) }, "\(rule) logged")
            }
            #expect(!rejected.contains { $0.contains(#""rate_limited""#) }, "rate limiting is only counted")
            #expect(await platform.chat.metrics.rateLimited >= 1)
            _ = try await HTTP.request("PUT", base + "/v1/moderation/room/settings", token: annToken, body: #"{"slowModeSeconds":0}"#)

            // Moderator actions: delete, timeout, ban (hides recent messages), unban (restores them).
            let (deletedStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: annToken,
                body: #"{"action":"delete","messageId":"\#(firstId)","reason":"test"}"#)
            #expect(deletedStatus == 200)
            _ = try await reader.wait(for: "deleted") { $0["id"] as? String == firstId }
            let (timeoutStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: annToken,
                body: #"{"action":"timeout","userId":"\#(bobId)","seconds":60}"#)
            #expect(timeoutStatus == 200)
            _ = try await reader.wait(for: "userTimedOut") { $0["userId"] as? String == bobId }
            bob.send(#"{"type":"send","text":"let me talk","nonce":"b11"}"#)
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "timed_out" }

            let beforeBan = try await platform.store.headPosition()
            let (banStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: "admin-t",
                body: #"{"action":"ban","userId":"\#(bobId)","reason":"spam"}"#)
            #expect(banStatus == 200)
            _ = try await reader.wait(for: "userBanned") { $0["userId"] as? String == bobId }
            let late = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { late.shutdown() }
            let hidden = try await late.wait(for: "backlog")
            #expect(
                !((hidden["messages"] as? [[String: Any]]) ?? []).contains { $0["userId"] as? String == bobId }, "ban hides bob's messages")
            // A user's refused posts reach the log five a minute however fast they come: bob's five
            // refusals above spent his allowance, so these eight add nothing.
            for attempt in 0..<8 { bob.send(#"{"type":"send","text":"banned now? \#(attempt)","nonce":"b\#(attempt + 12)"}"#) }
            _ = try await bob.wait(for: "error") { $0["code"] as? String == "banned" && $0["nonce"] as? String == "b19" }
            let bobsRejections = try await events(platform.store, "ChatMessageRejected").filter { $0.dataText.contains(bobId) }
            #expect(bobsRejections.count == UserActivity.recordedRejectionsPerMinute)

            let (unbanStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: "admin-t", body: #"{"action":"unban","userId":"\#(bobId)"}"#)
            #expect(unbanStatus == 200)
            let restored = try await reader.wait(for: "backlog") {
                ($0["messages"] as? [[String: Any]])?.contains { $0["userId"] as? String == bobId } == true
            }
            let bobAcks = bob.received.filter { $0.contains(#""type":"ack""#) }.count
            #expect(
                ((restored["messages"] as? [[String: Any]]) ?? []).count == bobAcks, "bob's messages back; ann's deleted one stays gone")

            // History: as of now, or of a position before the takedowns, which hold all the same
            // (TakedownTests covers the full record).
            await platform.chat.runner.waitUntil(try await platform.store.headPosition())
            let (historyStatus, now) = try await HTTP.request("GET", base + "/v1/chat/room/history?from=2000-01-01T00:00:00Z", token: nil)
            #expect(historyStatus == 200)
            #expect(((now["messages"] as? [[String: Any]]) ?? []).count == bobAcks)
            let (_, asOf) = try await HTTP.request("GET", base + "/v1/chat/room/history?asOf=\(beforeBan - 1)", token: nil)
            let old = (asOf["messages"] as? [[String: Any]]) ?? []
            #expect(!old.contains { $0["id"] as? String == firstId }, "deleted before that position")
            #expect(old.contains { $0["userId"] as? String == bobId }, "banned after that position, but unbanned since")
            let firstPosition = delivered["position"] as? Int ?? 0
            let (_, beforeDelete) = try await HTTP.request("GET", base + "/v1/chat/room/history?asOf=\(firstPosition)", token: nil)
            #expect(
                !((beforeDelete["messages"] as? [[String: Any]]) ?? []).contains { $0["id"] as? String == firstId },
                "asOf before the delete: the delete holds")
            let (_, record) = try await HTTP.request("GET", base + "/v1/chat/room/history?asOf=\(firstPosition)", token: "admin-t")
            #expect(
                ((record["messages"] as? [[String: Any]]) ?? []).contains { $0["id"] as? String == firstId && $0["removed"] != nil },
                "the admin sees it, marked")
            #expect(((old).first?["sentAt"] as? String)?.hasPrefix("20") == true)

            // Bad input keeps the socket open.
            reader.send("not json")
            _ = try await reader.wait(for: "error") { $0["code"] as? String == "invalid_json" }
            reader.send(#"{"type":"dance"}"#)
            _ = try await reader.wait(for: "error") { $0["code"] as? String == "unknown_type" }
            reader.send(#"{"type":"send","text":"\#(String(repeating: "y", count: 5_000))"}"#)
            _ = try await reader.wait(for: "error") { $0["code"] as? String == "frame_too_large" }
            reader.send(#"{"type":"ping"}"#)
            let deadline = ContinuousClock.now + .seconds(15)
            while reader.received.filter({ $0.contains("pong") }).count < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(reader.received.filter { $0.contains("pong") }.count == 2, "still open after bad input")

            // A flooder is closed with 1008.
            let flooder = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { flooder.shutdown() }
            _ = try await flooder.wait(for: "backlog")
            for _ in 0..<40 { flooder.send("garbage") }
            let closed = await flooder.waitClosed()
            #expect(
                closed?.code.contains("policyViolation") == true || closed?.code.contains("1008") == true, "\(String(describing: closed))")

            // The read model replays to the same rows.
            await platform.chat.runner.waitUntil(try await platform.store.headPosition())
            let report = try await ProjectionReplay(store: platform.store, projection: ChatProjection()).run()
            #expect(report.isIdentical, "\(report)")
        }
    }

    /// A socket that stops reading fills its kernel buffers (made small here), then its bounded
    /// queue, and is closed 1013 with a reason; a healthy socket beside it gets every message.
    @Test(.timeLimit(.minutes(3))) func aSlowReaderIsClosedWithoutHoldingUpOthers() async throws {
        let queue = 48
        let configuration = ChatConfiguration(socketQueue: queue, socketSendBuffer: 4_096, evictionGrace: .seconds(60))
        try await withPlatform("chat-slow", chat: configuration) { platform, host in
            let slow = try await RawWebSocket.connect(host, path: "/v1/chat/room", receiveBuffer: 2_048)
            let fast = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { slow.close(); fast.shutdown() }
            _ = try await fast.wait(for: "backlog")
            var deadline = ContinuousClock.now + .seconds(20)
            while slow.frames?.contains(where: { $0.text.contains(#""type":"settings""#) }) != true {
                guard ContinuousClock.now < deadline else {
                    throw TestSupportError("the slow socket never joined: \(String(describing: slow.frames))")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await slow.pause()

            // Messages straight into the log (as another node's posts would arrive), in batches
            // the healthy reader takes in stride; the paused one falls further behind each time.
            let text = String(repeating: "z", count: 480)
            let (batches, size) = (25, 20)
            for batch in 0..<batches {
                let events = try (0..<size).map { index in
                    try NewEvent(
                        ChatMessagePosted(
                            channel: "room", messageId: UUID(), userId: "bot", name: "bot", text: "m\(batch)-\(index) \(text)", nonce: nil),
                        metadata: EventMetadata(actor: .system("test")))
                }
                _ = try await platform.store.append(to: ChatStream.room("room"), expectedVersion: .any, events: events)
                _ = try await fast.wait(for: "message", timeout: .seconds(30)) {
                    ($0["text"] as? String)?.hasPrefix("m\(batch)-\(size - 1) ") == true
                }
            }
            let texts = fast.received.filter { $0.contains(#""type":"message""#) }
            #expect(texts.count == batches * size, "the healthy reader got every message once")
            #expect(texts.last?.contains("m\(batches - 1)-\(size - 1) ") == true, "in order")
            #expect(fast.close == nil)

            deadline = ContinuousClock.now + .seconds(30)
            while await platform.chat.metrics.evicted == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(await platform.chat.metrics.evicted == 1, "the slow socket was evicted, the healthy one not")

            // Reading again, the slow client gets what was buffered for it (bounded), then the close.
            try await slow.resume()
            deadline = ContinuousClock.now + .seconds(30)
            while !slow.isClosed, slow.frames?.contains(where: { $0.opcode == 0x8 }) != true, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let frames = slow.frames ?? []
            let close = try #require(frames.first { $0.opcode == 0x8 }, "a close frame; got \(frames.count) frames")
            #expect(close.payload.count >= 2 && (Int(close.payload[0]) << 8 | Int(close.payload[1])) == 1013)
            #expect(String(decoding: close.payload.dropFirst(2), as: UTF8.self).contains("too slow"))
            let got = frames.filter { $0.opcode == 0x1 && $0.text.contains(#""type":"message""#) }.count
            #expect(got < batches * size, "evicted before the end: \(got) messages")
        }
    }
}
