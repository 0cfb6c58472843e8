import Foundation
import Hummingbird
import NIOCore

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
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var headers = baseHeaders(caching: .playlist)
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
