import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Packager
import Synchronization

/// Answers `GET`/`HEAD /live/CHANNEL/RENDITION/FILE` for media already in memory (init segments,
/// parts, recent segments) on the event loop, before the request reaches the router.
///
/// Players fetch a part every part target per rendition, so these are most of the requests a live
/// origin serves; through the router each costs an async hop and a task
/// (docs/benchmarks.md#live-media-fast-paths). Everything else, and every request this path
/// cannot answer in full (a file still to come, a range, a conditional request), goes on to
/// `PlaybackRoutes` unchanged, which gives the same answer more slowly, so the two paths cannot
/// disagree on a file's bytes or headers. Pipelined requests are answered in order: while the
/// router still owes a response, every later request goes to the router too (it answers in
/// order), so an answer from here can never overtake one from there.
///
/// A file answered here counts its client as a viewer, by address and User-Agent; a request with
/// CMCD headers goes to the router, which reads them (as it does the `CMCD` query parameter).
final class LiveMediaFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// The router has this request; pass its parts on.
        case forwarding
        /// Answered here once the request ends.
        case answering(HTTPResponse, ByteBuffer?, close: Bool)
    }

    private let directory: PlaybackDirectory
    private let audience: Audience?
    /// The peer's `ConnectionGuard.addressKey`, once asked for.
    private var addressKey: String?
    /// Shared with the connection's raw path, when there is one.
    private var connection: FastPathConnection?
    private var state = State.idle
    /// Requests handed to the router whose responses have not ended yet.
    private var routerOwes = 0

    init(directory: PlaybackDirectory, audience: Audience? = nil) {
        self.directory = directory
        self.audience = audience
    }

    /// Joins the raw path that reads the connection from its first byte, if it has one.
    func handlerAdded(context: ChannelHandlerContext) {
        connection = (try? context.pipeline.syncOperations.handler(type: LiveMediaRawPath.self))?.connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            // Unwritable: a client that pipelines without reading gets the router, whose writes wait.
            if routerOwes == 0, context.channel.isWritable, let (response, body) = answer(request, context: context) {
                let close = request.headerFields[.connection]?.lowercased().contains("close") == true
                state = .answering(response, body, close: close)
            } else {
                state = .forwarding
                routerOwes += 1
                context.fireChannelRead(data)
            }
        case .body:
            if case .forwarding = state { context.fireChannelRead(data) }
        case .end:
            switch state {
            case .answering(let response, let body, let close):
                state = .idle
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                if let body { context.write(wrapOutboundOut(.body(body)), promise: nil) }
                if let connection, connection.owed > 0 { connection.owed -= 1 }
                if close {
                    context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                        context.close(promise: nil)
                    }
                } else {
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            case .forwarding:
                state = .idle
                context.fireChannelRead(data)
            case .idle:
                context.fireChannelRead(data)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            if routerOwes > 0 { routerOwes -= 1 }
            if let connection, connection.owed > 0 { connection.owed -= 1 }
        }
        context.write(data, promise: promise)
    }

    /// The full response when this path can give it; nil to leave the request to the router.
    private func answer(_ request: HTTPRequest, context: ChannelHandlerContext) -> (HTTPResponse, ByteBuffer?)? {
        guard request.method == .get || request.method == .head, let path = request.path,
            request.headerFields[.range] == nil, request.headerFields[.ifNoneMatch] == nil,
            request.headerFields[.ifModifiedSince] == nil, !request.headerFields.carryCMCD
        else { return nil }
        // /live/CHANNEL/RENDITION/FILE, nothing more (a query or an escape goes the long way).
        let pieces = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard pieces.count == 5, pieces[0].isEmpty, pieces[1].elementsEqual("live".utf8),
            !path.utf8.contains(UInt8(ascii: "?")), !path.utf8.contains(UInt8(ascii: "%")),
            let channel = String(pieces[2]), let name = String(pieces[3]), let file = String(pieces[4]),
            let resource = HLSResource(name: file), resource != .playlist,
            let stream = directory.stream(channel: channel), let rendition = stream.rendition(named: name),
            let media = rendition.fileInMemory(resource)
        else { return nil }
        DeliveryMetrics.answered(
            kind: DeliveryMetrics.kind(of: resource), status: 200, bytes: request.method == .head ? nil : media.bytes.readableBytes)
        audience?.watched(
            session: stream.identity.sessionID, channel: stream.identity.channelName, segmentTarget: stream.options.segmentTarget,
            client: ViewerID.client(address: peer(context), userAgent: request.headerFields[.userAgent]))
        var fields = rendition.kind == .audio ? Self.audioFields : Self.videoFields
        fields[.eTag] = "\"\(media.etag)\""
        fields[.lastModified] = media.lastModified
        fields[.contentLength] = String(media.bytes.readableBytes)
        fields[.date] = HTTPDateCache.now
        return (HTTPResponse(status: .ok, headerFields: fields), request.method == .head ? nil : media.bytes)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        if let addressKey { return addressKey }
        let key = ConnectionGuard.addressKey(context.channel.remoteAddress)
        addressKey = key
        return key
    }

    /// What `MediaResponse.media` sends for an immutable file, minus the per-file fields (ETag,
    /// Last-Modified, Content-Length, Date); the raw path sends the same.
    static func fields(contentType: String) -> HTTPFields {
        var fields = MediaResponse.baseHeaders(caching: .immutable)
        fields[.contentType] = contentType
        fields[.acceptRanges] = "bytes"
        fields[.server] = "streamd"
        return fields
    }

    private static let videoFields = fields(contentType: MediaResponse.videoType)
    private static let audioFields = fields(contentType: MediaResponse.audioType)
}

/// The `Date` header, formatted once a second rather than once a response.
enum HTTPDateCache {
    private static let cached = Mutex<(second: Int, text: String)>((-1, ""))

    static var now: String {
        let now = Date()
        let second = Int(now.timeIntervalSince1970)
        return cached.withLock { cached in
            if cached.second != second { cached = (second, HTTPDate.format(now)) }
            return cached.text
        }
    }
}
