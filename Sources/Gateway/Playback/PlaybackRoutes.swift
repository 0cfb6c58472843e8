import Foundation
import Hummingbird
import NIOCore
import Packager
import Transcode

/// Playback for players: live LL-HLS under `/live/CHANNEL/…` (blocking reload, preload hints,
/// delta updates), the channel's thumbnail, and recordings under `/vod/SESSION/…`. Public: no token.
struct PlaybackRoutes: Sendable {
    let directory: PlaybackDirectory
    let recordings: RecordingCatalog
    let thumbnails: LiveThumbnails?
    let rateLimits: RequestRateLimits

    func register(on router: Router<GatewayRequestContext>) {
        // OPTIONS answers CORS preflights (a player sending Range from another origin asks first).
        for method in [HTTPRequest.Method.get, .head, .options] {
            router.on("live/:channel/index.m3u8", method: method) { request, context in
                if request.method == .options { return Self.preflight() }
                let channel = try context.parameters.require("channel")
                guard let stream = directory.stream(channel: channel) else { return notLive(channel) }
                guard let text = stream.multivariantPlaylist() else {
                    return MediaResponse.error(
                        .notFound, "channel \(channel) is live but its first segment is not ready yet; retry in a second")
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
                guard let stream = directory.stream(channel: channel) else { return notLive(channel) }
                guard let rendition = stream.rendition(named: name) else {
                    return MediaResponse.error(.notFound, "channel \(channel) has no rendition \(name); see /live/\(channel)/index.m3u8")
                }
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
                let playlist = try await recordings.multivariantPlaylist(session: session)
                if case .notFound = playlist { await rateLimits.missed(from: context.remoteHost) }
                return answer(playlist) { MediaResponse.playlist($0) }
            }
            router.on("vod/:session/:rendition/:file", method: method) { request, context in
                if request.method == .options { return Self.preflight() }
                let session = try context.parameters.require("session")
                let name = try context.parameters.require("rendition")
                let file = try context.parameters.require("file")
                if file == "index.m3u8" {
                    let playlist = try await recordings.mediaPlaylist(session: session, rendition: name)
                    if case .notFound = playlist { await rateLimits.missed(from: context.remoteHost) }
                    return answer(playlist) { MediaResponse.playlist($0) }
                }
                guard let fileName = HLSResource(name: file) else {
                    return MediaResponse.error(.notFound, "\(file) is not a file of this recording")
                }
                let contentType = name == "audio" ? MediaResponse.audioType : MediaResponse.videoType
                return try await serve(
                    try await recordings.file(session: session, rendition: name, fileName), contentType: contentType, request, context)
            }
        }
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
        headers[.accessControlAllowHeaders] = "Range, If-None-Match, If-Modified-Since"
        headers[.accessControlMaxAge] = "86400"
        return Response(status: .noContent, headers: headers)
    }
}

extension RenditionPackager {
    var contentType: String { kind == .audio ? MediaResponse.audioType : MediaResponse.videoType }
}
