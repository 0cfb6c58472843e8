import Foundation
import NIOCore

/// One immutable file of a rendition, ready to serve.
public struct MediaFile: Sendable {
    public var bytes: ByteBuffer
    /// Unique per session, rendition and file; never reused, since URLs are immutable.
    public var etag: String
    /// IMF-fixdate of when it was published.
    public var lastModified: String

    public init(bytes: ByteBuffer, etag: String, lastModified: String) {
        self.bytes = bytes
        self.etag = etag
        self.lastModified = lastModified
    }

    /// A file of a session's rendition, live or recorded: one naming of ETags for both.
    init(bytes: ByteBuffer, session: String, rendition: String, resource: HLSResource, published: Date) {
        self.init(bytes: bytes, etag: "\(session)-\(rendition)-\(resource.name)", lastModified: HTTPDate.format(published))
    }
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
