import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Packager

/// Builds playback responses with the headers LL-HLS players and CDNs rely on.
enum MediaResponse {
    enum Caching {
        /// Playlists change with every part: never cached.
        case playlist
        /// Parts, segments and init segments never change once published.
        case immutable
    }

    static let playlistType = "application/vnd.apple.mpegurl"
    static let videoType = "video/mp4"
    static let audioType = "audio/mp4"

    static func playlist(_ text: String) -> Response {
        var headers = baseHeaders(caching: .playlist)
        headers[.contentType] = playlistType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An immutable media file: ETag from its identity, Last-Modified, byte ranges, HEAD, and
    /// `If-None-Match` answered with 304.
    static func media(
        _ body: ByteBuffer, contentType: String, etag: String, lastModified: String, request: Request
    ) -> Response {
        var headers = baseHeaders(caching: .immutable)
        headers[.contentType] = contentType
        headers[.eTag] = "\"\(etag)\""
        headers[.lastModified] = lastModified
        headers[.acceptRanges] = "bytes"
        if let match = request.headers[.ifNoneMatch], match.contains("\"\(etag)\"") || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        let size = body.readableBytes
        let isHead = request.method == .head
        switch ByteRangeRequest.parse(request.headers[.range], size: size) {
        case .whole, .ignored:
            headers[.contentLength] = String(size)
            return Response(status: .ok, headers: headers, body: isHead ? .init() : .init(byteBuffer: body))
        case .range(let range):
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            headers[.contentLength] = String(range.count)
            let slice = body.getSlice(at: body.readerIndex + range.lowerBound, length: range.count) ?? ByteBuffer()
            return Response(status: .partialContent, headers: headers, body: isHead ? .init() : .init(byteBuffer: slice))
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
    }

    /// A media file held in memory or on disk (`MediaFile.onDisk`); from disk only the range asked
    /// for is read, off the event loop, so `Range: bytes=0-0` of a 50 MB recording reads one byte.
    static func media(_ file: MediaFile, contentType: String, request: Request, context: some RequestContext) async throws -> Response {
        guard let disk = file.onDisk else {
            return media(file.bytes, contentType: contentType, etag: file.etag, lastModified: file.lastModified, request: request)
        }
        var headers = baseHeaders(caching: .immutable)
        headers[.contentType] = contentType
        headers[.eTag] = "\"\(file.etag)\""
        headers[.lastModified] = file.lastModified
        headers[.acceptRanges] = "bytes"
        if let match = request.headers[.ifNoneMatch], match.contains("\"\(file.etag)\"") || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        let isHead = request.method == .head
        switch ByteRangeRequest.parse(request.headers[.range], size: disk.size) {
        case .whole, .ignored:
            headers[.contentLength] = String(disk.size)
            let body = isHead ? ResponseBody() : try await fileIO.loadFile(path: disk.path, context: context)
            return Response(status: .ok, headers: headers, body: body)
        case .range(let range):
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(disk.size)"
            headers[.contentLength] = String(range.count)
            let body = isHead ? ResponseBody() : try await fileIO.loadFile(path: disk.path, range: range, context: context)
            return Response(status: .partialContent, headers: headers, body: body)
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(disk.size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
    }

    static let jpegType = "image/jpeg"
    /// Whether a thumbnail is from the live stream (`true`) or the picture kept from the last one.
    static let liveField = HTTPField.Name("X-Streamd-Live")!

    /// A channel's thumbnail: cacheable for `maxAge` seconds, ETag from its bytes, HEAD, and
    /// `If-None-Match` answered with 304.
    static func thumbnail(
        _ jpeg: [UInt8], etag: String, lastModified: Date, maxAge: Int, live: Bool, request: Request
    ) -> Response {
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlExposeHeaders] = "Content-Length, ETag, Last-Modified, Age, Date, X-Streamd-Live"
        headers[.cacheControl] = "public, max-age=\(maxAge)"
        headers[.contentType] = jpegType
        headers[.eTag] = "\"\(etag)\""
        headers[.lastModified] = HTTPDate.format(lastModified)
        headers[liveField] = live ? "true" : "false"
        if let match = request.headers[.ifNoneMatch], match.contains("\"\(etag)\"") || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(jpeg.count)
        let body: ResponseBody = request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(bytes: jpeg))
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Reads files on NIO's thread pool, never on an event loop.
    static let fileIO = FileIO()

    static func baseHeaders(caching: Caching) -> HTTPFields {
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlExposeHeaders] = "Content-Length, Content-Range, ETag, Last-Modified, Age, Date"
        switch caching {
        case .playlist: headers[.cacheControl] = "no-cache"
        case .immutable: headers[.cacheControl] = "public, max-age=31536000, immutable"
        }
        return headers
    }

    /// The plain-text error a player (or a person with curl) sees for a playback URL.
    static func error(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) -> Response {
        var headers = baseHeaders(caching: .playlist)
        headers[.contentType] = "text/plain; charset=utf-8"
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
