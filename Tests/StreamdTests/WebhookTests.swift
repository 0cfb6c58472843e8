import EventStore
import Foundation
import TestSupport
import Testing

/// Webhooks delivered from the log to a real HTTP receiver (`Fixtures/webhook_receiver.py`, which
/// checks every Standard Webhooks signature): a live session's events arrive signed; a backlog
/// survives `kill -9` and a restart, duplicates carrying the same `webhook-id`; a failing receiver
/// gets its retries, then a dead letter; requests towards link-local addresses or the node's own
/// port are refused.
@Suite struct WebhookTests {
    static let receiver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/webhook_receiver.py"
    ).path

    struct Received {
        var path: String
        var id: String
        var type: String
        var position: Int64
        var verified: Bool
    }

    static func received(_ folder: String) -> [Received] {
        let text = (try? String(contentsOfFile: folder + "/received.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Received(
                path: object["path"] as? String ?? "", id: object["id"] as? String ?? "", type: object["type"] as? String ?? "",
                position: (object["position"] as? NSNumber)?.int64Value ?? 0, verified: object["verified"] as? Bool ?? false)
        }
    }

    /// A folder for the receiver's records, the receiver on a free port, and a server that retries fast.
    static func start() async throws -> (String, Int, Subprocess.Running, StreamdServer) {
        let folder = NSTemporaryDirectory() + "streamd-webhooks-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let port = try StreamdServer.freePort()
        let receiver = try Subprocess.start("/usr/bin/env", ["python3", Self.receiver, "\(port)", folder])
        let server = try await StreamdServer(extra: ["--webhook-retry-ms", "100", "--webhook-max-attempts", "3"])
        return (folder, port, receiver, server)
    }

    static func stop(_ folder: String, _ receiver: Subprocess.Running, _ server: StreamdServer) {
        _ = receiver.stop(signal: SIGKILL)
        server.removeData()
        Task { try? await server.stop(signal: SIGKILL) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func subscribe(_ server: StreamdServer, _ url: String, _ events: [String], secrets folder: String) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["url": url, "events": events])
        let reply = try await server.admin("POST", "/v1/webhooks", body: String(decoding: body, as: UTF8.self))
        #expect(reply.status == 201, "\(reply.text)")
        let object = try #require(try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])
        let secret = try #require(object["secret"] as? String)
        let file = folder + "/secrets"
        let known = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        try (known + secret + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return try #require(object["id"] as? String)
    }

    @Test(.timeLimit(.minutes(3))) func signedDeliveriesOfALiveSessionAndABacklogThatSurvivesAKill() async throws {
        let (folder, port, receiver, server) = try await Self.start()
        defer { Self.stop(folder, receiver, server) }
        let base = "http://127.0.0.1:\(port)"

        _ = try await subscribe(server, base + "/ok", ["StreamStarted", "StreamEnded", "RecordingFinalized"], secrets: folder)
        let key = try await server.createChannel("hooked")
        let published = try await server.publish(key: key, seconds: 3, size: "320x180")
        #expect(published.status == 0, "\(published.output)")
        let live = try await poll("the session's three webhooks", seconds: 40) { () -> [Received]? in
            let got = Self.received(folder).filter { $0.path == "/ok" }
            return Set(got.map(\.type)).isSuperset(of: ["StreamStarted", "StreamEnded", "RecordingFinalized"]) ? got : nil
        }
        #expect(live.allSatisfy { $0.verified && $0.id == "evt_\($0.position)" }, "\(live)")
        #expect(live.map(\.position) == live.map(\.position).sorted(), "in log order")

        // A backlog: 20 channels while a slow receiver takes them; streamd is killed mid-way and
        // restarted, and every event arrives.
        _ = try await subscribe(server, base + "/slow", ["ChannelCreated"], secrets: folder)
        for i in 0..<20 { _ = try await server.createChannel("backlog\(i)") }
        _ = try await poll("some of the backlog", seconds: 20) { () -> Bool? in
            Self.received(folder).filter { $0.path == "/slow" }.count >= 4 ? true : nil
        }
        _ = try await server.stop(signal: SIGKILL)
        try await server.restart()
        let backlog = try await poll("the whole backlog after the restart", seconds: 60) { () -> [Received]? in
            let got = Self.received(folder).filter { $0.path == "/slow" }
            return Set(got.map(\.position)).count >= 20 ? got : nil
        }
        let unverified = backlog.filter { !$0.verified }
        #expect(unverified.isEmpty, "\(unverified)")
        for (position, copies) in Dictionary(grouping: backlog, by: \.position) {
            #expect(Set(copies.map(\.id)) == ["evt_\(position)"], "duplicates carry the same id: \(copies.map(\.id))")
        }
    }

    @Test(.timeLimit(.minutes(2))) func aFailingReceiverGetsItsRetriesThenADeadLetterAndInternalTargetsAreRefused() async throws {
        let (folder, port, receiver, server) = try await Self.start()
        defer { Self.stop(folder, receiver, server) }

        for url in ["http://169.254.169.254/latest/meta-data", "http://127.0.0.1:\(server.http)/v1/channels", "ftp://example.org/"] {
            let refused = try await server.admin("POST", "/v1/webhooks", body: #"{"url":"\#(url)","events":["ChannelCreated"]}"#)
            #expect(refused.status == 400 && refused.text.contains("invalid_webhook"), "\(url): \(refused.text)")
        }
        let unknown = try await server.admin("POST", "/v1/webhooks", body: #"{"url":"http://127.0.0.1:\#(port)/ok","events":["Nope"]}"#)
        #expect(unknown.status == 400 && unknown.text.contains("Nope"), "\(unknown.text)")

        let id = try await subscribe(server, "http://127.0.0.1:\(port)/fail", ["ChannelCreated"], secrets: folder)
        // A redirect is not followed: it could lead to an address the subscription would be refused.
        let redirected = try await subscribe(server, "http://127.0.0.1:\(port)/redirect", ["ChannelCreated"], secrets: folder)
        _ = try await server.createChannel("unlucky")
        let dead = try await poll("the dead letters", seconds: 30) { () -> String? in
            let text = try await server.admin("GET", "/v1/events?type=WebhookDeliveryFailed").text
            return text.contains(id) && text.contains(redirected) ? text : nil
        }
        #expect(dead.contains(#""attempts":3"#) || dead.contains(#""attempts": 3"#), "\(dead)")
        let attempts = Self.received(folder).filter { $0.path == "/fail" }
        #expect(attempts.count == 3 && Set(attempts.map(\.id)).count == 1 && attempts.allSatisfy(\.verified), "\(attempts)")
        #expect(Self.received(folder).filter { $0.path == "/redirect" }.count == 3)
        #expect(Self.received(folder).filter { $0.path == "/ok" }.isEmpty, "the redirect was followed")
        let notFollowed = try await server.admin("GET", "/v1/webhooks/\(redirected)").text
        #expect(notFollowed.contains("redirects are not followed"), "\(notFollowed)")
        let detail = try await server.admin("GET", "/v1/webhooks/\(id)").text
        #expect(detail.components(separatedBy: #""status":500"#).count == 4, "three attempts listed: \(detail)")

        // Rotation: the next delivery is signed with the new secret only.
        let rotated = try await server.admin("POST", "/v1/webhooks/\(id)/secret")
        #expect(rotated.status == 200 && rotated.text.contains("whsec_"), "\(rotated.text)")
        #expect(try await server.admin("DELETE", "/v1/webhooks/\(id)").status == 204)
        #expect(try await server.admin("GET", "/v1/webhooks/\(id)").status == 404)

        // The CLI does the same against the database.
        let url = ["--database-url", server.database.urlString]
        let added = try await Subprocess.runDetached(
            try Binaries.streamd(), ["webhooks", "add", "http://127.0.0.1:\(port)/ok", "--event", "StreamEnded", "--json"] + url)
        let made = try #require(try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: String], "\(added.output)")
        #expect(made["secret"]?.hasPrefix("whsec_") == true)
        let listed = try await Subprocess.runDetached(try Binaries.streamd(), ["webhooks", "list"] + url)
        #expect(listed.output.contains(made["id"] ?? "-") && listed.output.contains("StreamEnded"), "\(listed.output)")
        let removed = try await Subprocess.runDetached(try Binaries.streamd(), ["webhooks", "remove", made["id"] ?? ""] + url)
        #expect(removed.status == 0, "\(removed.output)")
        let link = try await Subprocess.runDetached(
            try Binaries.streamd(), ["webhooks", "add", "http://169.254.169.254/", "--event", "StreamEnded"] + url)
        #expect(link.status != 0 && link.output.contains("link-local"), "\(link.output)")
    }
}
