import Channels
import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@Suite struct RESTTests {
    @Test func channelsAndEventsOverHTTP() async throws {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        let store = try await TestDatabase.makeStore("rest", registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        let gateway = Gateway(
            configuration: GatewayConfiguration(adminToken: "secret-token", publicHost: "live.example"), store: store, channels: channels)
        let app = Application(router: gateway.router())
        let auth: HTTPFields = [.authorization: "Bearer secret-token"]

        try await app.test(.router) { client in
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/channels"), (.post, "/v1/channels"), (.get, "/v1/events"), (.delete, "/v1/channels/x/key"),
            ] {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .unauthorized, "\(method) \(path)")
                    #expect(String(buffer: response.body).contains(#""code":"unauthorized""#))
                }
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .unauthorized)
            }
            var key = ""
            try await client.execute(uri: "/v1/channels", method: .post, headers: auth, body: ByteBuffer(string: #"{"name":"demo"}"#)) {
                response in
                #expect(response.status == .created)
                let body = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))
                key = body["streamKey"] ?? ""
                #expect(body["name"] == "demo")
                #expect(body["rtmpURL"] == "rtmp://live.example:1935/live/\(key)")
                #expect(body["srtURL"] == "srt://live.example:9000?streamid=#!::r=live/\(key),m=publish")
                #expect(body["playbackURL"] == "/live/demo/index.m3u8")
                #expect(body["id"] != nil)
            }
            try await client.execute(uri: "/v1/channels", method: .post, headers: auth, body: ByteBuffer(string: #"{"name":"demo"}"#)) {
                response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("already exists"))
            }
            try await client.execute(uri: "/v1/channels", method: .post, headers: auth, body: ByteBuffer(string: #"{"nom":"x"}"#)) {
                response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains(#"missing field \"name\""#))
            }
            try await client.execute(uri: "/v1/channels", method: .post, headers: auth, body: ByteBuffer(string: #"{"name":"NO SPACES"}"#))
            { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/channels/unknown/key", method: .post, headers: auth) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/channels/unknown/key", method: .delete, headers: auth) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/channels/demo/key", method: .post, headers: auth) { response in
                #expect(response.status == .ok)
                let body = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))
                #expect(body["streamKey"] != key)
            }
            try await client.execute(uri: "/v1/channels/demo/key", method: .delete, headers: auth) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""hasActiveKey":false"#))
            }
            try await client.execute(uri: "/v1/events?after=1&limit=2", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let page = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let events = page?["events"] as? [[String: Any]] ?? []
                #expect(events.compactMap { $0["position"] as? Int } == [2, 3])
                #expect(events.compactMap { $0["type"] as? String } == ["StreamKeyIssued", "StreamKeyRevoked"])
                #expect(page?["next"] as? Int == 3)
            }
            try await client.execute(uri: "/v1/events?type=StreamKeyRevoked&stream=channel-demo", method: .get, headers: auth) { response in
                let page = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((page?["events"] as? [Any])?.count == 2)
            }
            try await client.execute(uri: "/v1/events?limit=0", method: .get, headers: auth) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}
