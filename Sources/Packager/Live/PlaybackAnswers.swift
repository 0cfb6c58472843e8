import Foundation
import NIOCore

/// One immutable file of a rendition, ready to serve.
public struct MediaFile: Sendable {
    /// The bytes, for files held in memory (parts, init segments, the newest segments); empty for
    /// a file on disk (`onDisk`), which the server reads itself, only the range asked for and off
    /// the event loop.
    public var bytes: ByteBuffer
    public var onDisk: (path: String, size: Int)?
    /// Unique per session, rendition and file; never reused, since URLs are immutable.
    public var etag: String
    /// IMF-fixdate of when it was published.
    public var lastModified: String

    public init(bytes: ByteBuffer, etag: String, lastModified: String) {
        self.bytes = bytes
        self.etag = etag
        self.lastModified = lastModified
    }

    /// A file on disk of `size` bytes.
    public init(path: String, size: Int, etag: String, lastModified: String) {
        self.init(bytes: ByteBuffer(), etag: etag, lastModified: lastModified)
        self.onDisk = (path, size)
    }

    /// A file of a session's rendition, live or recorded: one naming of ETags for both.
    init(bytes: ByteBuffer, session: String, rendition: String, resource: HLSResource, published: Date) {
        self.init(bytes: bytes, etag: Self.etag(session, rendition, resource), lastModified: HTTPDate.format(published))
    }

    init(path: String, size: Int, session: String, rendition: String, resource: HLSResource, published: Date) {
        self.init(path: path, size: size, etag: Self.etag(session, rendition, resource), lastModified: HTTPDate.format(published))
    }

    static func etag(_ session: String, _ rendition: String, _ resource: HLSResource) -> String {
        "\(session)-\(rendition)-\(resource.name)"
    }

    /// The file's size, in memory or on disk.
    public var size: Int { onDisk?.size ?? bytes.readableBytes }
}

/// The answer to a (possibly blocking) playlist or part request.
public enum PlaybackAnswer<Value: Sendable>: Sendable {
    case ready(Value)
    /// 400: the request is outside what the spec lets a client ask for; the text says why.
    case badRequest(String)
    /// 404.
    case notFound(String)
    /// 503: it did not become available within three target durations.
    case unavailable(String)
}
