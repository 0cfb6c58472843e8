import EventStore
import Foundation
import TestSupport
import Testing

/// Two `streamd serve` processes on one database: a message posted on one node reaches the
/// other's sockets, and a ban made on one takes effect on the other's socket at once.
@Suite struct TwoNodeTests {
    static let adminToken = "nodes-admin-token-of-32-characters"

    func freePort() -> Int { freeLoopbackPort() }

    @Test(.timeLimit(.minutes(3))) func messagesAndBansCrossNodes() async throws {
        let database = try await TestDatabase.freshDatabase("chat-nodes")
        // Nodes share the data folder's chat-secret, so a viewer token works on either.
        let dataDir = NSTemporaryDirectory() + "streamd-chat-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        var servers: [Subprocess.Running] = []
        var bases: [String] = []
        defer { for server in servers { _ = server.stop(signal: SIGKILL) } }
        for _ in 0..<2 {
            let http = freePort()
            servers.append(
                try Subprocess.start(
                    try Binaries.streamd(),
                    [
                        "serve", "--database-url", database.urlString, "--data-dir", dataDir, "--host", "127.0.0.1",
                        "--http-port", "\(http)", "--rtmp-port", "\(freePort())", "--srt-port", "0", "--admin-token", Self.adminToken,
                    ]))
            bases.append("127.0.0.1:\(http)")
            let deadline = ContinuousClock.now + .seconds(60)
            while (try? await HTTP.request("GET", "http://\(bases.last ?? "")/healthz", token: nil).0) != 200 {
                guard ContinuousClock.now < deadline else { Issue.record("serve did not come up"); return }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let (a, b) = (bases[0], bases[1])
        let (created, _) = try await HTTP.request("POST", "http://\(a)/v1/channels", token: Self.adminToken, body: #"{"name":"twin"}"#)
        #expect(created == 201)
        let (eveId, eveToken) = try await HTTP.viewer("http://\(a)", "eve")

        let onB = ChatTestClient("ws://\(b)/v1/chat/twin?token=\(eveToken)")
        let onA = ChatTestClient("ws://\(a)/v1/chat/twin")
        defer { onA.shutdown(); onB.shutdown() }
        _ = try await onB.wait(for: "authenticated")
        _ = try await onA.wait(for: "backlog")

        onB.send(#"{"type":"send","text":"hello from node b","nonce":"n1"}"#)
        let ack = try await onB.wait(for: "ack")
        let message = try await onA.wait(for: "message") { $0["id"] as? String == ack["id"] as? String }
        #expect(message["text"] as? String == "hello from node b")

        // Banned on node A; node B's socket hears of it and can no longer post.
        let (banned, _) = try await HTTP.request(
            "POST", "http://\(a)/v1/moderation/twin/actions", token: Self.adminToken,
            body: #"{"action":"ban","userId":"\#(eveId)","reason":"test"}"#)
        #expect(banned == 200)
        _ = try await onB.wait(for: "userBanned") { $0["userId"] as? String == eveId }
        onB.send(#"{"type":"send","text":"still here?","nonce":"n2"}"#)
        _ = try await onB.wait(for: "error") { $0["code"] as? String == "banned" && $0["nonce"] as? String == "n2" }
        let backlog = ChatTestClient("ws://\(b)/v1/chat/twin")
        defer { backlog.shutdown() }
        let hidden = try await backlog.wait(for: "backlog")
        #expect((hidden["messages"] as? [Any])?.isEmpty == true, "the ban hid eve's message on node B too")
    }
}
