/// Why bytes from a socket or a file could not be read as the media structure they claim to be.
public struct MediaFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    public var structure: String
    public var reason: String

    public init(_ structure: String, _ reason: String) {
        self.structure = structure
        self.reason = reason
    }

    public var description: String { "malformed \(structure): \(reason)" }
}
