import AsyncHTTPClient
import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization

/// Live playback of a channel another node of the cluster ingests: the request goes to that node
/// (the one holding the channel in `channel_leases`) and its answer comes back as it streams,
/// status, headers and body, so blocking reloads wait on the origin and parts keep their cache
/// headers. A proxied request carries `X-Streamd-Proxied` and is never proxied again.
final class LiveProxy: Sendable {
    static let marker = HTTPField.Name("X-Streamd-Proxied")!
    /// Longer than any blocking reload the origin may hold (three target durations at most).
    static let timeout = TimeAmount.seconds(30)
    /// How long a channel's origin is remembered, found or not.
    static let lookupLifetime = Duration.seconds(1)
    static let forwardedRequestHeaders: [HTTPField.Name] = [
        .range, .ifNoneMatch, .ifModifiedSince, .userAgent, .accept, HTTPField.Name("CMCD-Request")!, HTTPField.Name("CMCD-Object")!,
        HTTPField.Name("CMCD-Status")!, HTTPField.Name("CMCD-Session")!,
    ]
    static let answeredHeaders: Set<String> = [
        "content-type", "content-length", "cache-control", "etag", "last-modified", "content-range", "accept-ranges", "retry-after",
        "access-control-allow-origin", "access-control-expose-headers", "timing-allow-origin", "age",
    ]

    let store: EventStore
    /// This node's own URL: a channel it holds is never proxied to itself.
    let selfURL: String?
    private let origins = Mutex<[String: (url: String?, at: ContinuousClock.Instant)]>([:])

    init(store: EventStore, selfURL: String?) {
        self.store = store
        self.selfURL = selfURL
    }

    /// The live node holding `channel`, when it is another node.
    func origin(of channel: String) async -> String? {
        let now = ContinuousClock.now
        if let known = origins.withLock({ $0[channel] }), now - known.at < Self.lookupLifetime { return known.url }
        var found: String?
        do {
            let rows = try await store.readModels.query(
                """
                SELECT n.url FROM channels ch
                JOIN channel_leases c ON c.channel_id = ch.channel_id::text
                JOIN node_leases n ON n.node_id = c.node_id AND n.state = 'live' AND n.expires_at > now()
                WHERE ch.name = \(channel)
                """)
            for try await url in rows.decode(String.self) { found = url }
        } catch {
            return nil
        }
        if found == selfURL { found = nil }
        origins.withLock { origins in
            if origins.count > 10_000 { origins = [:] }
            origins[channel] = (found, now)
        }
        return found
    }

    /// The origin's answer to `request`, or nil when no other node has `channel` live.
    func answer(_ request: Request, channel: String, from client: String) async -> Response? {
        guard request.headers[Self.marker] == nil, let origin = await origin(of: channel) else { return nil }
        var outgoing = HTTPClientRequest(url: origin + request.uri.description)
        outgoing.method = request.method == .head ? .HEAD : .GET
        for name in Self.forwardedRequestHeaders {
            if let value = request.headers[name] { outgoing.headers.add(name: name.rawName, value: value) }
        }
        outgoing.headers.add(name: Self.marker.rawName, value: selfURL ?? "streamd")
        outgoing.headers.add(name: "X-Forwarded-For", value: client)
        do {
            let response = try await HTTPClient.shared.execute(outgoing, timeout: Self.timeout)
            var fields = HTTPFields()
            for header in response.headers where Self.answeredHeaders.contains(header.name.lowercased()) {
                if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
            }
            fields.append(HTTPField(name: Self.marker, value: origin))
            return Response(
                status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase), headers: fields,
                body: ResponseBody(asyncSequence: response.body))
        } catch {
            return MediaResponse.error(
                .badGateway, "channel \(channel) is live on node \(origin), which did not answer (\(error)); retry in a second",
                retryAfter: 1)
        }
    }
}
