import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Node
import TestSupport
import Testing

@testable import Chat

/// Issue 22, "takedowns hold": a message a moderator deleted, or a ban hid, never comes back to the
/// public (history, `asOf` before the takedown, a fresh socket's backlog); the admin and the room's
/// moderators get the full record, removed messages marked.
@Suite struct TakedownTests {
    static let admin = "admin-takedown"

    func withPlatform(_ body: @Sendable (Platform, String) async throws -> Void) async throws {
        let store = try await TestDatabase.makeStore("chat-takedown", registry: .platform)
        // Every history read here comes from one address: more than its default allowance.
        var limits = HTTPLimits()
        limits.historyBurst = 1_000
        let platform = try await Platform(
            store: store,
            configuration: GatewayConfiguration(
                host: "127.0.0.1", port: 0, adminToken: Self.admin, rtmpPort: 0, srtPort: 0, limits: limits),
            media: .init(directory: FileManager.default.temporaryDirectory.appendingPathComponent("streamd-takedown-\(UUID())")),
            chat: ChatConfiguration(socketQueue: 512), logger: TestDatabase.logger)
        platform.start()
        _ = try await platform.channels.create(name: "room", metadata: EventMetadata(actor: .admin))
        _ = try await platform.channels.create(name: "other", metadata: EventMetadata(actor: .admin))
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

    static func messages(_ body: [String: Any]) -> [[String: Any]] { (body["messages"] as? [[String: Any]]) ?? [] }
    static func ids(_ messages: [[String: Any]]) -> Set<String> { Set(messages.compactMap { $0["id"] as? String }) }
    static func removal(_ messages: [[String: Any]], _ id: String) -> [String: Any]? {
        messages.first { $0["id"] as? String == id }?["removed"] as? [String: Any]
    }

    @Test(.timeLimit(.minutes(3))) func takedownsHoldForEveryLaterRead() async throws {
        try await withPlatform { platform, host in
            let base = "http://\(host)"
            let (_, annToken) = try await HTTP.viewer(base, "Ann")
            let (bobId, bobToken) = try await HTTP.viewer(base, "Bob")
            let (modId, modToken) = try await HTTP.viewer(base, "Mona")
            let (otherModId, otherModToken) = try await HTTP.viewer(base, "Olga")
            let (_, carlToken) = try await HTTP.viewer(base, "Carl")
            for (room, user) in [("room", modId), ("other", otherModId)] {
                let (granted, _) = try await HTTP.request(
                    "POST", base + "/v1/moderation/\(room)/moderators", token: Self.admin, body: #"{"userId":"\#(user)"}"#)
                #expect(granted == 201)
            }

            let ann = ChatTestClient("ws://\(host)/v1/chat/room?token=\(annToken)")
            defer { ann.shutdown() }
            _ = try await ann.wait(for: "authenticated")
            let bob = ChatTestClient("ws://\(host)/v1/chat/room?token=\(bobToken)")
            defer { bob.shutdown() }
            _ = try await bob.wait(for: "authenticated")
            var ids: [String: String] = [:]
            for (client, nonce, text) in [(ann, "a1", "to be deleted"), (ann, "a2", "stays"), (bob, "b1", "hidden by the ban")] {
                client.send(#"{"type":"send","text":"\#(text)","nonce":"\#(nonce)"}"#)
                ids[nonce] = try #require(try await client.wait(for: "ack") { $0["nonce"] as? String == nonce }["id"] as? String)
            }
            let (deletedId, keptId, bannedId) = (ids["a1"] ?? "", ids["a2"] ?? "", ids["b1"] ?? "")
            // Every message posted, no takedown yet: the instant `asOf` reads below go back to.
            let beforeTakedowns = try await platform.store.headPosition()

            let (deleteStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: modToken,
                body: #"{"action":"delete","messageId":"\#(deletedId)","reason":"spam"}"#)
            #expect(deleteStatus == 200)
            let (banStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: Self.admin,
                body: #"{"action":"ban","userId":"\#(bobId)","reason":"abuse"}"#)
            #expect(banStatus == 200)
            await platform.chat.runner.waitUntil(try await platform.store.headPosition())

            // The public, a plain viewer and a moderator of another room: never the removed ones.
            for (who, token) in [("anonymous", nil), ("viewer", carlToken), ("moderator of another room", otherModToken)] {
                for query in ["from=2000-01-01T00:00:00Z", "asOf=\(beforeTakedowns)", "asOf=\(beforeTakedowns)&after=0&limit=500"] {
                    let (status, body) = try await HTTP.request("GET", base + "/v1/chat/room/history?\(query)", token: token)
                    #expect(status == 200, "\(who) \(query)")
                    let messages = Self.messages(body)
                    #expect(Self.ids(messages) == [keptId], "\(who) \(query): only what still stands")
                    #expect(!messages.contains { $0["removed"] != nil }, "\(who) \(query): no marker, no removed text")
                }
            }
            // Before any message, nothing; a wrong token is refused rather than read as the public.
            let (_, early) = try await HTTP.request("GET", base + "/v1/chat/room/history?asOf=1", token: nil)
            #expect(Self.messages(early).isEmpty)
            let (wrong, _) = try await HTTP.request("GET", base + "/v1/chat/room/history", token: "not-a-token")
            #expect(wrong == 401)

            // The admin and the room's moderator: the full record, marked, now and as of before.
            for (who, token) in [("admin", Self.admin), ("moderator", modToken)] {
                for query in ["from=2000-01-01T00:00:00Z", "asOf=\(beforeTakedowns)"] {
                    let (status, body) = try await HTTP.request("GET", base + "/v1/chat/room/history?\(query)", token: token)
                    #expect(status == 200, "\(who) \(query)")
                    let messages = Self.messages(body)
                    #expect(Self.ids(messages) == [deletedId, keptId, bannedId], "\(who) \(query)")
                    let deleted = Self.removal(messages, deletedId)
                    #expect(deleted?["kind"] as? String == "deleted", "\(who) \(query)")
                    #expect(deleted?["by"] as? String == "moderator:\(modId)")
                    #expect(deleted?["reason"] as? String == "spam")
                    #expect((deleted?["at"] as? String)?.hasPrefix("20") == true)
                    #expect((deleted?["position"] as? Int ?? 0) > beforeTakedowns)
                    let banned = Self.removal(messages, bannedId)
                    #expect(banned?["kind"] as? String == "ban", "\(who) \(query)")
                    #expect(banned?["by"] as? String == "admin:admin")
                    #expect(banned?["reason"] as? String == "abuse")
                    #expect(Self.removal(messages, keptId) == nil)
                }
            }

            // A fresh socket's backlog: the public never gets them; a moderator, once identified, does, marked.
            let anonymous = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { anonymous.shutdown() }
            let publicBacklog = Self.messages(try await anonymous.wait(for: "backlog"))
            #expect(Self.ids(publicBacklog) == [keptId])
            let carl = ChatTestClient("ws://\(host)/v1/chat/room?token=\(carlToken)")
            defer { carl.shutdown() }
            _ = try await carl.wait(for: "authenticated")
            let otherMod = ChatTestClient("ws://\(host)/v1/chat/room?token=\(otherModToken)")
            defer { otherMod.shutdown() }
            _ = try await otherMod.wait(for: "authenticated") { $0["moderator"] as? Bool == false }
            let moderator = ChatTestClient("ws://\(host)/v1/chat/room?token=\(modToken)")
            defer { moderator.shutdown() }
            _ = try await moderator.wait(for: "authenticated") { $0["moderator"] as? Bool == true }
            let adminSocket = ChatTestClient("ws://\(host)/v1/chat/room")
            defer { adminSocket.shutdown() }
            _ = try await adminSocket.wait(for: "backlog")
            adminSocket.send(#"{"type":"auth","token":"\#(Self.admin)"}"#)
            _ = try await adminSocket.wait(for: "authenticated")
            for (who, client) in [("moderator", moderator), ("admin", adminSocket)] {
                let full = Self.messages(
                    try await client.wait(for: "backlog") { Self.ids(Self.messages($0)).contains(deletedId) })
                #expect(Self.ids(full) == [deletedId, keptId, bannedId], "\(who)")
                #expect(Self.removal(full, deletedId)?["kind"] as? String == "deleted", "\(who)")
                #expect(Self.removal(full, bannedId)?["kind"] as? String == "ban", "\(who)")
            }
            for (who, client) in [("anonymous", anonymous), ("viewer", carl), ("moderator of another room", otherMod)] {
                let leaked = client.received.filter { $0.contains(deletedId) || $0.contains(bannedId) || $0.contains("\"removed\"") }
                #expect(leaked.isEmpty, "\(who) got \(leaked)")
            }

            // A room loaded afresh from the read model (another node, a restart) keeps the markers.
            let loaded = try await ChatReadModel(store: platform.store).room("room")
            #expect(Set(loaded.backlog().map { $0.id.uuidString.lowercased() }) == [keptId.lowercased()])
            let record = loaded.backlog(includingRemoved: true)
            #expect(record.first { $0.id.uuidString.lowercased() == deletedId.lowercased() }?.removed?.kind == .deleted)
            #expect(record.first { $0.id.uuidString.lowercased() == bannedId.lowercased() }?.removed?.kind == .ban)

            // Lifting the ban is itself a moderator's decision: the ban's hiding ends; the delete holds.
            let (unbanStatus, _) = try await HTTP.request(
                "POST", base + "/v1/moderation/room/actions", token: Self.admin, body: #"{"action":"unban","userId":"\#(bobId)"}"#)
            #expect(unbanStatus == 200)
            await platform.chat.runner.waitUntil(try await platform.store.headPosition())
            let (_, afterUnban) = try await HTTP.request("GET", base + "/v1/chat/room/history?asOf=\(beforeTakedowns)", token: nil)
            #expect(Self.ids(Self.messages(afterUnban)) == [keptId, bannedId])
        }
    }
}
