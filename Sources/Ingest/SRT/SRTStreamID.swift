/// An SRT stream id as encoders send it, parsed: the SRT Access Control syntax
/// `#!::r=live/STREAMKEY,m=publish` (keys in any order, `u`, `h`, `s`, `t` and custom keys
/// tolerated) or the bare form `live/STREAMKEY`.
public struct SRTStreamID: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable {
        case publish
        case request
        case bidirectional
    }

    /// The application part of the resource (`live`).
    public var application: String
    public var streamKey: String
    public var mode: Mode
    public var user: String?
    /// `role=backup` makes the publish the channel's backup input.
    public var role: IngestInputRole = .primary

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        case tooLong(Int)
        case malformedPair(String)
        case duplicateKey(String)
        case missingResource
        case malformedResource(String)
        case unknownMode(String)
        case unsupportedType(String)
        case unknownRole(String)

        /// Never the id's own text: a stream key may be anywhere in a malformed id, and the
        /// description goes to the log (`PublishRejected.detail`) and the process log.
        public var description: String {
            switch self {
            case .empty:
                "no stream id; set it to #!::r=live/STREAMKEY,m=publish"
            case .tooLong(let count):
                "the stream id is \(count) bytes long (at most 512); set it to #!::r=live/STREAMKEY,m=publish"
            case .malformedPair(let pair):
                "a part of the stream id (\(pair.count) characters) is not key=value; write #!::r=live/STREAMKEY,m=publish"
            case .duplicateKey(let key):
                "the stream id names '\(Self.short(key))' twice; write #!::r=live/STREAMKEY,m=publish"
            case .missingResource:
                "the stream id has no r= resource; write #!::r=live/STREAMKEY,m=publish"
            case .malformedResource(let resource):
                "the resource (\(resource.count) characters) is not APPLICATION/STREAMKEY; write #!::r=live/STREAMKEY,m=publish"
            case .unknownMode(let mode):
                "unknown mode m=\(Self.short(mode)); publish with m=publish"
            case .unsupportedType(let type):
                "streamd takes live streams (t=stream), not t=\(Self.short(type))"
            case .unknownRole(let role):
                "unknown role=\(Self.short(role)); leave it out for the primary encoder or write role=backup"
            }
        }

        /// A word of the id when it is too short to be a key (keys are 46 characters), else its length.
        static func short(_ text: String) -> String {
            text.count <= 12 ? text : "<\(text.count) characters withheld>"
        }
    }

    static let maxLength = 512

    public init(application: String, streamKey: String, mode: Mode = .publish, user: String? = nil) {
        self.application = application
        self.streamKey = streamKey
        self.mode = mode
        self.user = user
    }

    /// Parses `text`. Without `m=`, the mode is publish: this server only ingests.
    public init(parsing text: String) throws(ParseError) {
        let length = text.utf8.count
        guard length > 0 else { throw .empty }
        guard length <= Self.maxLength else { throw .tooLong(length) }
        guard text.hasPrefix("#!::") else {
            (application, streamKey) = try Self.resource(text)
            mode = .publish
            user = nil
            return
        }
        var values: [String: String] = [:]
        for pair in text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false) {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else { throw .malformedPair(String(pair)) }
            let key = String(pair[..<equals])
            guard values[key] == nil else { throw .duplicateKey(key) }
            values[key] = String(pair[pair.index(after: equals)...])
        }
        guard let resource = values["r"] else { throw .missingResource }
        (application, streamKey) = try Self.resource(resource)
        if let type = values["t"], type != "stream" { throw .unsupportedType(type) }
        switch values["m"] {
        case nil: mode = .publish
        case let value?:
            guard let parsed = Mode(rawValue: value) else { throw .unknownMode(value) }
            mode = parsed
        }
        user = values["u"]
        if let role = values["role"] {
            guard let parsed = IngestInputRole(rawValue: role) else { throw .unknownRole(role) }
            self.role = parsed
        }
    }

    private static func resource(_ text: String) throws(ParseError) -> (String, String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            !text.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F })
        else { throw .malformedResource(text) }
        return (String(parts[0]), String(parts[1]))
    }
}
