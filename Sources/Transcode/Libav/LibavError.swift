import CFFmpeg

/// A libav call failed. `message` is `av_strerror`'s text for `code`.
public struct LibavError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The libav function (and what it was doing) that failed, e.g. `avcodec_open2(libx264 720p)`.
    public var operation: String
    public var code: Int32
    public var message: String

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
        var buffer = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buffer, buffer.count) == 0 {
            message = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            message = "unknown libav error"
        }
    }

    public var description: String { "\(operation) failed: \(message) (libav error \(code))" }

    var isAgain: Bool { code == streamd_averror_eagain() }
    var isEndOfFile: Bool { code == streamd_averror_eof() }
    var isInvalidData: Bool { code == streamd_averror_invaliddata() }

    package static let outOfMemory = streamd_averror_enomem()

    /// Returns `code` when it is not an error, throws otherwise.
    @discardableResult
    package static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LibavError) -> Int32 {
        guard code >= 0 else { throw LibavError(operation(), code: code) }
        return code
    }
}
