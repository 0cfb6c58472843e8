import Foundation
import NIOCore
import Packager

/// What the two fast paths of one connection share (both run on its event loop).
final class FastPathConnection {
    /// Requests the raw path handed to the HTTP decoder whose responses have not ended: while
    /// there is one, the raw path answers nothing, so no answer overtakes an earlier one.
    var owed = 0
}

/// The front of a plain HTTP/1.1 connection: a read holding only complete `GET`/`HEAD` requests
/// for live media in memory is answered from the bytes, before HTTP decoding, with a response
/// head kept pre-encoded per content type.
///
/// Parsing, HTTP type conversions and encoding cost more than the kernel's work for a 20 KB part;
/// players fetch one per part target per rendition (docs/benchmarks.md#live-media-fast-paths).
/// Anything else goes on to the HTTP decoder untouched: a request it cannot answer (a playlist, a
/// file still to come, a range, a conditional), and, for the rest of the connection, anything
/// that is not a whole request without a body (a request split across reads, a body, a pipelined
/// tail, a request that may upgrade the connection): from then on only the HTTP-level
/// `LiveMediaFastPath` and the router answer.
///
/// A file answered here counts its client as a viewer, by address and User-Agent; a request with
/// CMCD headers is left to the router, which reads them.
///
/// It must read the connection from its first byte (`GuardedChildChannel` puts it there): it can
/// only tell where a request starts because it has seen every byte before, and none of them is
/// left in the decoder.
final class LiveMediaRawPath: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let directory: PlaybackDirectory
    private let audience: Audience?
    let connection = FastPathConnection()
    private var passthrough = false
    /// The peer's `ConnectionGuard.addressKey`, once asked for.
    private var addressKey: String?

    init(directory: PlaybackDirectory, audience: Audience? = nil) {
        self.directory = directory
        self.audience = audience
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if passthrough {
            context.fireChannelRead(data)
            return
        }
        var bytes = unwrapInboundIn(data)
        var flush = false
        while bytes.readableBytes > 0 {
            guard let length = Self.headLength(bytes), let head = bytes.readSlice(length: length) else {
                passthrough = true
                break
            }
            switch RawRequest(head) {
            case .none:
                passthrough = true
                bytes.moveReaderIndex(to: bytes.readerIndex - length)
            case .some(let request) where request.hasBody:
                passthrough = true
                bytes.moveReaderIndex(to: bytes.readerIndex - length)
            case .some(let request):
                // Unwritable: a client that pipelines without reading gets the router, whose writes wait.
                if connection.owed == 0, context.channel.isWritable, let response = answer(request, context: context) {
                    context.write(wrapOutboundOut(response.head), promise: nil)
                    if let body = response.body { context.write(wrapOutboundOut(body), promise: nil) }
                    flush = true
                    if request.close {
                        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
                            context.close(promise: nil)
                        }
                        return
                    }
                } else {
                    if flush { context.flush(); flush = false }
                    connection.owed += 1
                    // After a request that may switch protocols, the bytes may not be HTTP any more;
                    // after one that closes the connection, the decoder refuses any (found by ops/fuzz).
                    if request.upgrade || request.close { passthrough = true }
                    context.fireChannelRead(wrapInboundOut(head))
                }
            }
            if passthrough { break }
        }
        if flush { context.flush() }
        if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
    }

    private func answer(_ request: RawRequest, context: ChannelHandlerContext) -> (head: ByteBuffer, body: ByteBuffer?)? {
        guard let target = request.liveTarget, let stream = directory.stream(channel: target.channel),
            let rendition = stream.rendition(named: target.rendition), let media = rendition.fileInMemory(target.resource)
        else { return nil }
        DeliveryMetrics.answered(
            kind: DeliveryMetrics.kind(of: target.resource), status: 200, bytes: request.isHead ? nil : media.bytes.readableBytes)
        audience?.watched(
            session: stream.identity.sessionID, channel: stream.identity.channelName, segmentTarget: stream.options.segmentTarget,
            client: ViewerID.client(address: peer(context), userAgent: request.userAgent))
        var head = ByteBuffer()
        head.reserveCapacity(512)
        head.writeImmutableBuffer(rendition.kind == .audio ? Self.audioHead : Self.videoHead)
        head.writeString(
            "ETag: \"\(media.etag)\"\r\nLast-Modified: \(media.lastModified)\r\nContent-Length: \(media.bytes.readableBytes)\r\nDate: \(HTTPDateCache.now)\r\n\r\n"
        )
        return (head, request.isHead ? nil : media.bytes)
    }

    private func peer(_ context: ChannelHandlerContext) -> String {
        if let addressKey { return addressKey }
        let key = ConnectionGuard.addressKey(context.channel.remoteAddress)
        addressKey = key
        return key
    }

    /// The status line and the fields every live media answer shares, as `LiveMediaFastPath` sends them.
    private static func encodedHead(contentType: String) -> ByteBuffer {
        var text = "HTTP/1.1 200 OK\r\n"
        for field in LiveMediaFastPath.fields(contentType: contentType) { text += "\(field.name.rawName): \(field.value)\r\n" }
        return ByteBuffer(string: text)
    }

    private static let videoHead = encodedHead(contentType: MediaResponse.videoType)
    private static let audioHead = encodedHead(contentType: MediaResponse.audioType)

    /// Bytes up to and including the blank line ending the first request head; nil when the
    /// buffer does not hold one whole head.
    static func headLength(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            var index = 0
            while index + 3 < bytes.count {
                if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                    return index + 4
                }
                index += 1
            }
            return nil
        }
    }
}

/// One request head read from raw bytes: only what the raw path needs to decide. (`package` for
/// ops/fuzz, which checks its framing against NIO's HTTP decoder.)
package struct RawRequest {
    package var isHead: Bool
    package var path: Substring
    /// A header that asks for more than the whole file (range, conditional, upgrade, expectation),
    /// or CMCD for the router to read.
    var special = false
    package var upgrade = false
    package var hasBody = false
    package var close = false
    var userAgent: String?

    /// Nil for anything that is not an HTTP/1.1 GET or HEAD request head made only of what the
    /// HTTP decoder surely reads the same way (`isPlain`).
    package init?(_ head: ByteBuffer) {
        guard Self.isPlain(head.readableBytesView),
            let text = head.getString(at: head.readerIndex, length: head.readableBytes)
        else { return nil }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)[...]
        guard let requestLine = lines.popFirst() else { return nil }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2] == "HTTP/1.1", parts[0] == "GET" || parts[0] == "HEAD", parts[1].first == "/" else {
            return nil
        }
        isHead = parts[0] == "HEAD"
        path = parts[1]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length": if value != "0" { hasBody = true }
            case "transfer-encoding": hasBody = true
            case "range", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "expect",
                "cmcd-request", "cmcd-object", "cmcd-status", "cmcd-session":
                special = true
            case "upgrade":
                special = true
                upgrade = true
            case "connection": if value.lowercased().contains("close") { close = true }
            case "user-agent": userAgent = value
            default: break
            }
        }
    }

    /// Whether a head (ending in its blank line) is a request line and header lines of printable
    /// ASCII, each ended by CRLF, every header name a token. Anything else (a control byte, a lone
    /// CR or LF, space before a colon, a folded line, a blank line first, bytes above 0x7E) goes
    /// to the HTTP decoder, which refuses it or reads it its own way: the raw path must never frame
    /// a request the decoder would frame differently (found by ops/fuzz's http-raw target).
    static func isPlain(_ head: ByteBufferView) -> Bool {
        var line = 0
        var lineStart = true
        // In a header line, before its colon.
        var inName = false
        var index = head.startIndex
        while index < head.endIndex {
            let byte = head[index]
            if byte == 13 {
                guard index + 1 < head.endIndex, head[index + 1] == 10 else { return false }
                // A blank line: the last one, never the first.
                if lineStart { return line > 0 && index + 2 == head.endIndex }
                guard !inName else { return false }
                line += 1
                lineStart = true
                inName = true
                index += 2
                continue
            }
            switch byte {
            // Spaces inside lines; tabs only in header values (the request line's target would take them).
            case 32: guard !lineStart, !inName else { return false }
            case 9: guard line > 0, !lineStart, !inName else { return false }
            case 58 where inName:
                guard !lineStart else { return false }
                inName = false
            case 33...126: guard !inName || isTokenCharacter(byte) else { return false }
            default: return false
            }
            lineStart = false
            index += 1
        }
        return false
    }

    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: true
        default: false
        }
    }

    /// `LiveMediaRawPath.headLength`: where the raw path ends the first request in `buffer`.
    package static func headLength(_ buffer: ByteBuffer) -> Int? { LiveMediaRawPath.headLength(buffer) }

    /// `/live/CHANNEL/RENDITION/FILE` for a media file, when nothing asks for more than the file.
    var liveTarget: (channel: String, rendition: String, resource: HLSResource)? {
        guard !special, !path.contains("?"), !path.contains("%") else { return nil }
        let pieces = path.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 5, pieces[0].isEmpty, pieces[1] == "live", !pieces[2].isEmpty, !pieces[3].isEmpty,
            let resource = HLSResource(name: pieces[4]), resource != .playlist
        else { return nil }
        return (String(pieces[2]), String(pieces[3]), resource)
    }
}
