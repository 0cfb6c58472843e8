import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Packager
import Transcode

/// Playback for players: live LL-HLS under `/live/CHANNEL/…` (blocking reload, preload hints,
/// delta updates), the channel's thumbnail, and recordings under `/vod/SESSION/…`. Public: no token.
///
/// Every live request counts its client as a viewer of the session and hands its CMCD (query or
/// headers) to the audience; CMCD on recordings is read and counted only. Malformed CMCD is
/// ignored and counted: the media is served all the same.
struct PlaybackRoutes: Sendable {
    let directory: PlaybackDirectory
    let recordings: RecordingCatalog
    let thumbnails: LiveThumbnails?
    let rateLimits: RequestRateLimits
    let audience: Audience
    /// Channels live on another node of the cluster are answered from there.
    var proxy: LiveProxy? = nil

    func register(on router: Router<GatewayRequestContext>) {
        // OPTIONS answers CORS preflights (a player sending Range from another origin asks first).
        for method in [HTTPRequest.Method.get, .head, .options] {
            router.on("live/:channel/index.m3u8", method: method) { request, context in
                if request.method == .options { return Self.preflight() }
                let channel = try context.parameters.require("channel")
                guard let stream = directory.stream(channel: channel) else {
                    return await proxy?.answer(request, channel: channel, from: context.remoteHost) ?? notLive(channel)
                }
                watched(stream, request, context)
                let listing = stream.multivariantListing()
                guard let text = listing.playlist() else {
                    let why = listing.pending ?? "its first segment is not ready yet"
                    return MediaResponse.error(
                        .notFound, "channel \(channel) is live but \(why); retry in a second", retryAfter: 1)
                }
                return MediaResponse.playlist(text)
            }
            if let thumbnails {
                router.on("live/:channel/thumbnail.jpg", method: method) { request, context in
                    if request.method == .options { return Self.preflight() }
                    let channel = try context.parameters.require("channel")
                    return await thumbnail(channel, from: thumbnails, request, context)
                }
            }
            router.on("live/:channel/:rendition/:file", method: method) { request, context in
                if request.method == .options { return Self.preflight() }
                let channel = try context.parameters.require("channel")
                let name = try context.parameters.require("rendition")
                let file = try context.parameters.require("file")
                guard let stream = directory.stream(channel: channel) else {
                    return await proxy?.answer(request, channel: channel, from: context.remoteHost) ?? notLive(channel)
                }
                guard let rendition = stream.rendition(named: name) else {
                    return MediaResponse.error(.notFound, "channel \(channel) has no rendition \(name); see /live/\(channel)/index.m3u8")
                }
                watched(stream, request, context)
                if file == "index.m3u8" {
                    return answer(await rendition.playlist(query: Self.query(request))) { MediaResponse.playlist($0) }
                }
                guard let fileName = HLSResource(name: file) else {
                    return MediaResponse.error(.notFound, "\(file) is not a file of this rendition")
                }
                return try await serve(await rendition.file(fileName), contentType: rendition.contentType, request, context)
            }
            router.on("vod/:session/index.m3u8", method: method) { request, context in
                if request.method == .options { return Self.preflight() }
                let session = try context.parameters.require("session")
                _ = audience.received(Self.cmcd(request))
                let playlist = try await recordings.multivariantPlaylist(session: session)
                if case .notFound = playlist { await rateLimits.missed(from: context.remoteHost) }
                return answer(playlist) { MediaResponse.playlist($0) }
            }
            router.on("vod/:session/:rendition/:file", method: method) { request, context in
                if request.method == .options { return Self.preflight() }
                let session = try context.parameters.require("session")
                let name = try context.parameters.require("rendition")
                let file = try context.parameters.require("file")
                _ = audience.received(Self.cmcd(request))
                if file == "index.m3u8" {
                    let playlist = try await recordings.mediaPlaylist(session: session, rendition: name)
                    if case .notFound = playlist { await rateLimits.missed(from: context.remoteHost) }
                    return answer(playlist) { MediaResponse.playlist($0) }
                }
                guard let fileName = HLSResource(name: file) else {
                    return MediaResponse.error(.notFound, "\(file) is not a file of this recording")
                }
                let contentType = name == "audio" ? MediaResponse.audioType : MediaResponse.videoType
                let found = try await recordings.file(session: session, rendition: name, fileName)
                // The files of a recording made on another node of the cluster come from there.
                if case .notFound = found, let proxied = await proxy?.answer(request, recording: session, from: context.remoteHost) {
                    return proxied
                }
                return try await serve(found, contentType: contentType, request, context)
            }
        }
    }

    /// Counts the client as a viewer of `stream`'s session, by its CMCD `sid` or else by its
    /// address and User-Agent, and folds its CMCD into the session's QoE.
    private func watched(_ stream: StreamPackager, _ request: Request, _ context: GatewayRequestContext) {
        audience.watched(
            session: stream.identity.sessionID, channel: stream.identity.channelName, segmentTarget: stream.options.segmentTarget,
            client: ViewerID.client(address: context.remoteHost, userAgent: request.headers[.userAgent]),
            cmcd: audience.received(Self.cmcd(request)))
    }

    /// The request's CMCD: the `CMCD` query parameter and the four `CMCD-*` headers.
    static func cmcd(_ request: Request) -> Result<CMCDReport, CMCDError>? {
        let headers = request.headers
        let query = request.uri.query?.contains("CMCD=") == true ? request.uri.queryParameters["CMCD"].map(String.init) : nil
        guard query != nil || headers.carryCMCD else { return nil }
        return CMCDParser.parse(
            query: query, request: headers[.cmcdRequest], object: headers[.cmcdObject], status: headers[.cmcdStatus],
            session: headers[.cmcdSession])
    }

    private func notLive(_ channel: String) -> Response {
        MediaResponse.error(
            .notFound,
            "channel \(channel) is not live; its recordings are listed at /v1/channels/\(channel)/recordings and play at /vod/SESSION/index.m3u8"
        )
    }

    /// Rendering is bounded by `LiveThumbnails` (one per channel per refresh interval, on its own
    /// queue), so the route needs no rate limit of its own; a miss counts like a missing recording.
    private func thumbnail(
        _ channel: String, from thumbnails: LiveThumbnails, _ request: Request, _ context: GatewayRequestContext
    ) async -> Response {
        switch await thumbnails.thumbnail(channel: channel) {
        case .live(let picture, let maxAge):
            return MediaResponse.thumbnail(
                picture.jpeg, etag: picture.etag, lastModified: picture.rendered, maxAge: maxAge, live: true, request: request)
        case .saved(let saved):
            let maxAge = Int(thumbnails.options.refreshInterval.components.seconds)
            return MediaResponse.thumbnail(
                saved.jpeg, etag: saved.etag, lastModified: saved.modified, maxAge: max(maxAge, 1), live: false, request: request)
        case .waitingForKeyframe:
            return MediaResponse.error(.notFound, "channel \(channel) is live but has sent no keyframe yet; retry in a few seconds")
        case .undecodable(let message, let retryAfter):
            var response = MediaResponse.error(.serviceUnavailable, "\(message); retry in \(retryAfter) s")
            response.headers[.retryAfter] = String(retryAfter)
            return response
        case .none:
            await rateLimits.missed(from: context.remoteHost)
            return MediaResponse.error(
                .notFound, "channel \(channel) has no thumbnail: it is not live and no picture was kept from an earlier stream")
        }
    }

    private func serve(
        _ answer: PlaybackAnswer<MediaFile>, contentType: String, _ request: Request, _ context: some RequestContext
    ) async throws -> Response {
        guard case .ready(let file) = answer else { return self.answer(answer) { _ in Response(status: .internalServerError) } }
        return try await MediaResponse.media(file, contentType: contentType, request: request, context: context)
    }

    private func answer<Value>(_ answer: PlaybackAnswer<Value>, _ ready: (Value) -> Response) -> Response {
        switch answer {
        case .ready(let value): ready(value)
        case .badRequest(let text): MediaResponse.error(.badRequest, text)
        case .notFound(let text): MediaResponse.error(.notFound, text)
        case .unavailable(let text): MediaResponse.error(.serviceUnavailable, text)
        }
    }

    static func query(_ request: Request) -> [String: String] {
        var items: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { items[String(key)] = String(value) }
        return items
    }

    static func preflight() -> Response {
        var headers = MediaResponse.baseHeaders(caching: .playlist)
        headers[.accessControlAllowMethods] = "GET, HEAD, OPTIONS"
        headers[.accessControlAllowHeaders] =
            "Range, If-None-Match, If-Modified-Since, CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session"
        headers[.accessControlMaxAge] = "86400"
        return Response(status: .noContent, headers: headers)
    }
}

extension HTTPField.Name {
    static let cmcdRequest = Self("CMCD-Request")!
    static let cmcdObject = Self("CMCD-Object")!
    static let cmcdStatus = Self("CMCD-Status")!
    static let cmcdSession = Self("CMCD-Session")!
}

extension HTTPFields {
    /// Whether a `CMCD-*` header is among these (CTA-5004 defines four).
    var carryCMCD: Bool { contains { $0.name.canonicalName.hasPrefix("cmcd-") } }
}

extension RenditionPackager {
    var contentType: String { kind == .audio ? MediaResponse.audioType : MediaResponse.videoType }
}
