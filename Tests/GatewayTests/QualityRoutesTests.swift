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
import Transcode

@Suite struct QualityRoutesTests {
    @Test(.timeLimit(.minutes(2))) func channelThresholdsAreReadAndSetOverHTTP() async throws {
        let store = try await TestDatabase.makeStore("qualityroutes", registry: .platform)
        let channels = ChannelService(store: store)
        channels.start()
        let runner = ProjectionRunner(store: store, sql: QualityProjection.live(store))
        let bag = TaskBag()
        bag.add(Task { await runner.run() })
        defer {
            Task {
                await channels.shutdown(); await bag.shutdown(store)
            }
        }
        _ = try await channels.create(name: "tuned", metadata: EventMetadata(actor: .admin))
        let app = Application(
            router: Gateway(configuration: GatewayConfiguration(adminToken: "t"), store: store, channels: channels).router())
        let auth: HTTPFields = [.authorization: "Bearer t"]

        struct Settings: Decodable { var channel: String; var configured: Bool; var thresholds: QualityThresholds }
        let tuned = {
            var tuned = QualityThresholds.default
            tuned.high.minimumBandwidth = 3_500_000
            tuned.stableSeconds = 30
            return tuned
        }()
        let body = try JSONEncoder().encode(tuned)

        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/channels/tuned/quality", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let settings = try JSONDecoder().decode(Settings.self, from: Data(buffer: response.body))
                #expect(!settings.configured && settings.thresholds == .default)
            }
            try await client.execute(uri: "/v1/channels/tuned/quality", method: .put, headers: auth, body: ByteBuffer(bytes: body)) {
                response in
                #expect(response.status == .ok)
            }
            var broken = tuned
            broken.low.maximumLossRate = 5
            try await client.execute(
                uri: "/v1/channels/tuned/quality", method: .put, headers: auth, body: ByteBuffer(bytes: try JSONEncoder().encode(broken))
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("low.maximumLossRate must be a fraction"))
            }
            try await client.execute(uri: "/v1/channels/nope/quality", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
            }
        }
        #expect(await runner.waitUntil(try await store.headPosition(), timeout: .seconds(30)))
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/channels/tuned/quality", method: .get, headers: auth) { response in
                let settings = try JSONDecoder().decode(Settings.self, from: Data(buffer: response.body))
                #expect(settings.configured && settings.thresholds == tuned)
            }
        }
        let recorded = try await store.readStream("channel-tuned").filter { $0.eventType == QualitySettingsChanged.eventType }
        #expect(recorded.count == 1 && recorded.first?.metadata.actor == .admin)
    }
}
