import Channels
import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// Several admins over HTTP on a real database: each change names its admin and carries the
/// request's id; a revoked token is refused, whoever revoked it.
@Suite struct AdminRoutesTests {
    static let ownerToken = "owner-token-of-at-least-32-characters"

    @Test func eachAdminIsNamedInTheLogAndARevokedTokenIsRefused() async throws {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        registry.registerGatewayEvents()
        let store = try await TestDatabase.makeStore("admins", registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        let admins = AdminRegistry(store: store)
        #expect(try await admins.ensureOwner(token: Self.ownerToken, metadata: EventMetadata(actor: .system("test"))) == .recorded)
        #expect(try await admins.ensureOwner(token: Self.ownerToken, metadata: EventMetadata(actor: .system("test"))) == .unchanged)
        let directory = AdminDirectory()
        try await directory.load(from: store)
        let follower = Task { await directory.follow(store, logger: TestDatabase.logger) }
        defer {
            follower.cancel()
            Task {
                await channels.shutdown()
                await store.shutdown()
            }
        }
        var gateway = Gateway(configuration: GatewayConfiguration(adminToken: Self.ownerToken), store: store, channels: channels)
        gateway.admins = directory
        let app = Application(router: gateway.router())
        let owner: HTTPFields = [.authorization: "Bearer \(Self.ownerToken)"]
        let requestID = ClientRequestID.header

        try await app.test(.router) { client in
            var tokens: [String: String] = [:]
            for name in ["alice", "bob"] {
                try await client.execute(
                    uri: "/v1/admins", method: .post, headers: owner, body: ByteBuffer(string: #"{"name":"\#(name)"}"#)
                ) { response in
                    #expect(response.status == .created)
                    tokens[name] = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))["token"]
                }
            }
            let alice: HTTPFields = [.authorization: "Bearer \(tokens["alice"] ?? "")", requestID: "alice-creates-alpha"]
            let bob: HTTPFields = [.authorization: "Bearer \(tokens["bob"] ?? "")", requestID: "has space"]
            try await client.execute(uri: "/v1/admins", method: .post, headers: owner, body: ByteBuffer(string: #"{"name":"alice"}"#)) {
                #expect($0.status == .conflict)
            }
            try await client.execute(uri: "/v1/admins", method: .post, headers: owner, body: ByteBuffer(string: #"{"name":"Not OK"}"#)) {
                #expect($0.status == .badRequest)
                #expect(String(buffer: $0.body).contains("is not an admin name"))
            }
            try await client.execute(uri: "/v1/channels", method: .post, headers: alice, body: ByteBuffer(string: #"{"name":"alpha"}"#)) {
                #expect($0.status == .created)
                #expect($0.headers[requestID] == "alice-creates-alpha", "the client's id is answered")
            }
            var bobsRequest = ""
            try await client.execute(uri: "/v1/channels", method: .post, headers: bob, body: ByteBuffer(string: #"{"name":"beta"}"#)) {
                #expect($0.status == .created)
                bobsRequest = $0.headers[requestID] ?? ""
                #expect(UUID(uuidString: bobsRequest) != nil, "an id with a space is replaced by a new one: \(bobsRequest)")
            }

            let log = try await store.read(after: 0, limit: 1_000)
            let alpha = try #require(log.first { $0.eventType == "ChannelCreated" && $0.dataText.contains("alpha") })
            #expect(alpha.metadata.actor == .admin(named: "alice"))
            #expect(alpha.metadata.requestId == "alice-creates-alpha")
            #expect(alpha.metadata.correlationId == ClientRequestID(sanitizing: "alice-creates-alpha")?.correlationId)
            let aliceKey = try #require(log.first { $0.eventType == "StreamKeyIssued" && $0.streamId == alpha.streamId })
            #expect(aliceKey.metadata.correlationId == alpha.metadata.correlationId, "every event of the request shares its correlation")
            let beta = try #require(log.first { $0.eventType == "ChannelCreated" && $0.dataText.contains("beta") })
            #expect(beta.metadata.actor == .admin(named: "bob"))
            #expect(beta.metadata.requestId == bobsRequest)
            #expect(beta.metadata.correlationId == UUID(uuidString: bobsRequest))
            let added = log.filter { $0.eventType == "AdminAdded" }
            #expect(added.map(\.metadata.actor.description) == ["system:test", "admin:admin", "admin:admin"])
            #expect(!added.contains { $0.dataText.contains(tokens["alice"] ?? "-") }, "the log holds no token")

            try await client.execute(uri: "/v1/admins", method: .get, headers: owner) {
                #expect($0.status == .ok)
                let text = String(buffer: $0.body)
                #expect(text.contains(#""name":"alice""#) && text.contains(#""name":"bob""#) && text.contains("lastUsedOnThisNode"))
                #expect(!text.contains(tokens["alice"] ?? "-") && !text.contains("tokenHash"))
            }

            // Revoked over HTTP: refused by the next request.
            try await client.execute(uri: "/v1/admins/alice?reason=left", method: .delete, headers: bob) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: alice) {
                #expect($0.status == .unauthorized)
                #expect($0.headers[requestID] == "alice-creates-alpha", "errors answer the id too")
            }
            try await client.execute(uri: "/v1/admins/alice", method: .delete, headers: bob) { #expect($0.status == .conflict) }
            try await client.execute(uri: "/v1/admins/nobody", method: .delete, headers: bob) { #expect($0.status == .notFound) }
            let revoked = try #require(try await store.read(after: 0, limit: 1_000).last { $0.eventType == "AdminRevoked" })
            #expect(revoked.metadata.actor == .admin(named: "bob"))
            #expect(revoked.metadata.reason == "left")

            // Revoked by another writer (the CLI, another node): refused once the log reaches this node.
            try await admins.revoke(name: "bob", metadata: EventMetadata(actor: EventActor(.admin, id: "cli:test")))
            var status = HTTPResponse.Status.ok
            for _ in 0..<500 where status != .unauthorized {
                try await client.execute(uri: "/v1/channels", method: .get, headers: bob) { status = $0.status }
                if status != .unauthorized { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(status == .unauthorized)
            try await client.execute(uri: "/v1/channels", method: .get, headers: owner) { #expect($0.status == .ok) }
        }
    }
}
