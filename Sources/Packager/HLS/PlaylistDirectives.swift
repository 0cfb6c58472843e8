/// The delivery directives of a media playlist request: `_HLS_msn`, `_HLS_part`, `_HLS_skip`
/// (RFC 8216bis §6.2.5). Other query parameters (tokens, cache busters) are ignored, as are
/// `_HLS_` names this version does not define.
public struct PlaylistDirectives: Sendable, Hashable {
    public var blocking: BlockingRequest?
    public var skip: MediaPlaylistRenderer.Skip?

    public init(blocking: BlockingRequest? = nil, skip: MediaPlaylistRenderer.Skip? = nil) {
        self.blocking = blocking
        self.skip = skip
    }

    /// Reads decoded name/value pairs (as an HTTP framework hands them over).
    public init(query: some Sequence<(String, String)>) throws(BlockingRequestError) {
        var msnText: String?
        var partText: String?
        var skipText: String?
        for (name, value) in query {
            switch name {
            case "_HLS_msn":
                guard msnText == nil else { throw .repeated(parameter: name) }
                msnText = value
            case "_HLS_part":
                guard partText == nil else { throw .repeated(parameter: name) }
                partText = value
            case "_HLS_skip":
                guard skipText == nil else { throw .repeated(parameter: name) }
                skipText = value
            default:
                continue
            }
        }
        if let skipText {
            switch skipText {
            case "YES": skip = .yes
            case "v2": skip = .v2
            default: throw .invalidSkip(value: Self.shown(skipText))
            }
        }
        if let partText, msnText == nil { throw .partWithoutMSN(part: Self.shown(partText)) }
        if let msnText {
            let msn = try Self.number(msnText, parameter: "_HLS_msn")
            var part: Int?
            if let partText { part = try Self.number(partText, parameter: "_HLS_part") }
            blocking = try BlockingRequest(msn: msn, part: part)
        }
    }

    /// Reads a raw query string (`_HLS_msn=12&_HLS_part=3`), percent-decoding names and values.
    public init(rawQuery: some StringProtocol) throws(BlockingRequestError) {
        var pairs: [(String, String)] = []
        for item in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let halves = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.percentDecoded(halves.first ?? "")
            let value = halves.count > 1 ? Self.percentDecoded(halves[1]) : ""
            pairs.append((name, value))
        }
        try self.init(query: pairs)
    }

    /// RFC 8216bis decimal-integer: digits only. At most 18 of them, so it cannot overflow.
    private static func number(_ text: String, parameter: String) throws(BlockingRequestError) -> Int {
        let utf8 = text.utf8
        if utf8.first == UInt8(ascii: "-"), utf8.count > 1, utf8.dropFirst().allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            throw .negative(parameter: parameter, value: shown(text))
        }
        guard !utf8.isEmpty, utf8.count <= 18, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
            throw .notANumber(parameter: parameter, value: shown(text))
        }
        return value
    }

    /// Client text echoed in an error, cut short so a request cannot fill the log.
    private static func shown(_ text: String) -> String {
        text.count > 32 ? String(text.prefix(32)) + "…" : text
    }

    /// `%XX` decoded; a malformed escape is kept as written (the value then fails to parse).
    private static func percentDecoded(_ text: some StringProtocol) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let high = hexValue(iterator[iterator.startIndex]),
                let low = hexValue(iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
