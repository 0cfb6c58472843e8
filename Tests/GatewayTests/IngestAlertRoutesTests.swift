import Channels
import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Node
import Quality
import TestSupport
import Testing

@Suite struct IngestAlertRoutesTests {
    struct Settings: Decodable {
        var channel: String
        var configured: Bool
        var rules: IngestAlertRules
    }

    @Test(.timeLimit(.minutes(2))) func channelRulesAreReadValidatedAndSetOverHTTP() async throws {
        let store = try await TestDatabase.makeStore("alertroutes", registry: .platform)
        let channels = ChannelService(store: store)
        channels.start()
        let runner = ProjectionRunner(store: store, sql: IngestAlertProjection.live(store))
        let bag = TaskBag()
        bag.add(Task { await runner.run() })
        defer {
            Task {
                await channels.shutdown(); await bag.shutdown(store)
            }
        }
        _ = try await channels.create(name: "strict", metadata: EventMetadata(actor: .admin))
        let app = Application(
            router: Gateway(configuration: GatewayConfiguration(adminToken: "t"), store: store, channels: channels).router())
        let auth: HTTPFields = [.authorization: "Bearer t"]
        let strict = {
            var strict = IngestAlertRules.default
            strict.minimumBitrate = 1_000_000
            strict.maximumBitrate = 6_000_000
            strict.maximumKeyframeIntervalSeconds = 2.5
            strict.bFrames = false
            return strict
        }()

        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/channels/strict/ingest-alerts", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let settings = try JSONDecoder().decode(Settings.self, from: Data(buffer: response.body))
                #expect(!settings.configured && settings.rules == .default)
            }
            try await client.execute(
                uri: "/v1/channels/strict/ingest-alerts", method: .put, headers: auth,
                body: ByteBuffer(bytes: try JSONEncoder().encode(strict))
            ) { response in
                #expect(response.status == .ok)
            }
            var broken = strict
            broken.minimumBitrate = 9_000_000
            broken.raiseAfterSeconds = 0
            try await client.execute(
                uri: "/v1/channels/strict/ingest-alerts", method: .put, headers: auth,
                body: ByteBuffer(bytes: try JSONEncoder().encode(broken))
            ) { response in
                #expect(response.status == .badRequest)
                let text = String(buffer: response.body)
                #expect(text.contains("invalid_alert_rules"), "\(text)")
                #expect(text.contains("minimumBitrate (9000000) is above maximumBitrate (6000000); swap them"), "\(text)")
                #expect(text.contains("raiseAfterSeconds must be between 1 and 600"), "\(text)")
            }
            try await client.execute(
                uri: "/v1/channels/strict/ingest-alerts", method: .put, headers: auth, body: ByteBuffer(string: #"{"bFrames":"no"}"#)
            ) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/channels/nope/ingest-alerts", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/streams/not-a-session/alerts", method: .get, headers: auth) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("is not a session id"))
            }
            try await client.execute(uri: "/v1/streams/\(UUID())/alerts", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
            }
        }
        #expect(await runner.waitUntil(try await store.headPosition(), timeout: .seconds(30)))
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/channels/strict/ingest-alerts", method: .get, headers: auth) { response in
                let settings = try JSONDecoder().decode(Settings.self, from: Data(buffer: response.body))
                #expect(settings.configured && settings.rules == strict)
            }
        }
        let recorded = try await store.readStream("channel-strict").filter { $0.eventType == IngestAlertRulesConfigured.eventType }
        #expect(recorded.count == 1 && recorded.first?.metadata.actor == .admin)
    }
}
