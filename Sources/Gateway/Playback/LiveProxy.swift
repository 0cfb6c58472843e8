import AsyncHTTPClient
import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization

/// Live playback of a channel another node of the cluster ingests: the request goes to that node
/// (the one holding the channel in `channel_leases`) and its answer comes back as it streams,
/// status, headers and body, so blocking reloads wait on the origin and parts keep their cache
/// headers. A proxied request carries `X-Streamd-Proxied` and is never proxied again. Files the
/// origin calls immutable (complete parts, segments, init segments) are kept in a small memory
/// cache, so every viewer of a part on this node costs the origin one request, not one each.
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

    /// At most this many bytes of immutable files are kept, oldest out first; larger files are not kept.
    static let cacheBytes = 64 << 20
    static let cacheableBytes = 8 << 20

    struct Cached: Sendable {
        var headers: HTTPFields
        var body: ByteBuffer
    }

    /// Immutable files by path, and the paths in the order they came.
    struct Cache: Sendable {
        var files: [String: Cached] = [:]
        var order: [String] = []
        var bytes = 0

        mutating func insert(_ path: String, _ file: Cached) {
            guard files[path] == nil else { return }
            files[path] = file
            order.append(path)
            bytes += file.body.readableBytes
            while bytes > LiveProxy.cacheBytes, !order.isEmpty {
                let oldest = order.removeFirst()
                bytes -= files.removeValue(forKey: oldest)?.body.readableBytes ?? 0
            }
        }
    }

    let store: EventStore
    /// This node's own URL: a channel it holds is never proxied to itself.
    let selfURL: String?
    private let origins = Mutex<[String: (url: String?, at: ContinuousClock.Instant)]>([:])
    private let cache = Mutex(Cache())

    /// `redirect`: answer 307 to the origin instead of fetching from it.
    let redirects: Bool

    init(store: EventStore, selfURL: String?, redirects: Bool = false) {
        self.store = store
        self.selfURL = selfURL
        self.redirects = redirects
    }

    /// The live node holding `channel`, when it is another node.
    func origin(of channel: String) async -> String? {
        await lookup(channel) {
            """
            SELECT n.url FROM channels ch
            JOIN channel_leases c ON c.channel_id = ch.channel_id::text
            JOIN node_leases n ON n.node_id = c.node_id AND n.state = 'live' AND n.expires_at > now()
            WHERE ch.name = \(channel)
            """
        }
    }

    /// The live node that recorded `session` (its `StreamStarted.nodeID`), when it is another node.
    func recordingOrigin(of session: String) async -> String? {
        await lookup("session " + session) {
            """
            SELECT n.url FROM events s
            JOIN node_leases n ON n.node_id = s.data->>'nodeID' AND n.state = 'live' AND n.expires_at > now()
            WHERE s.stream_id = \("session-" + session.lowercased()) AND s.event_type = 'StreamStarted'
            """
        }
    }

    /// The URL `query` finds, unless it is this node's, remembered under `key` for a second.
    private func lookup(_ key: String, _ query: () -> PostgresQuery) async -> String? {
        let now = ContinuousClock.now
        if let known = origins.withLock({ $0[key] }), now - known.at < Self.lookupLifetime { return known.url }
        var found: String?
        do {
            for try await url in try await store.readModels.query(query()).decode(String.self) { found = url }
        } catch {
            return nil
        }
        if found == selfURL { found = nil }
        origins.withLock { origins in
            if origins.count > 10_000 { origins = [:] }
            origins[key] = (found, now)
        }
        return found
    }

    /// The origin's answer to `request`, or nil when no other node has `channel` live.
    func answer(_ request: Request, channel: String, from client: String) async -> Response? {
        guard request.headers[Self.marker] == nil, let origin = await origin(of: channel) else { return nil }
        return await forward(request, to: origin, what: "channel \(channel) is live", from: client)
    }

    /// A recording's file from the node that recorded it, or nil when that is no other live node.
    func answer(_ request: Request, recording session: String, from client: String) async -> Response? {
        guard request.headers[Self.marker] == nil, let origin = await recordingOrigin(of: session) else { return nil }
        return await forward(request, to: origin, what: "session \(session) was recorded", from: client)
    }

    private func forward(_ request: Request, to origin: String, what: String, from client: String) async -> Response {
        if redirects {
            var headers = MediaResponse.baseHeaders(caching: .playlist)
            headers[.location] = origin + request.uri.description
            headers[Self.marker] = origin
            return Response(status: .temporaryRedirect, headers: headers)
        }
        let path = request.uri.path
        let cacheable = request.method == .get && request.headers[.range] == nil && !path.hasSuffix(".m3u8")
        if cacheable, let hit = cache.withLock({ $0.files[path] }) {
            return Response(status: .ok, headers: hit.headers, body: ResponseBody(byteBuffer: hit.body))
        }
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
            let length = response.headers.first(name: "content-length").flatMap(Int.init)
            if cacheable, response.status == .ok, response.headers.first(name: "cache-control")?.contains("immutable") == true,
                let length, length <= Self.cacheableBytes
            {
                let body = try await response.body.collect(upTo: Self.cacheableBytes)
                cache.withLock { $0.insert(path, Cached(headers: fields, body: body)) }
                return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: body))
            }
            return Response(
                status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase), headers: fields,
                body: ResponseBody(asyncSequence: response.body))
        } catch {
            return MediaResponse.error(
                .badGateway, "\(what) on node \(origin), which did not answer (\(error)); retry in a second", retryAfter: 1)
        }
    }
}
