/// Why a CMCD value was refused.
public enum CMCDError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Over `CMCDParser.maxBytes`.
    case tooLong(bytes: Int)
    /// Over `CMCDParser.maxKeys` keys.
    case tooManyKeys
    /// Not a Structured Field dictionary (RFC 8941) at byte `offset`.
    case syntax(offset: Int, expected: String)
    /// A key streamd reads, with a value of the wrong type or out of range.
    case invalidValue(key: String, expected: String)

    public var description: String {
        switch self {
        case .tooLong(let bytes): "\(bytes) bytes of CMCD, over the limit of \(CMCDParser.maxBytes)"
        case .tooManyKeys: "more than \(CMCDParser.maxKeys) CMCD keys"
        case .syntax(let offset, let expected): "malformed CMCD at byte \(offset): expected \(expected)"
        case .invalidValue(let key, let expected): "CMCD key \(key) must be \(expected)"
        }
    }
}

/// A strict parser of CMCD data (CTA-5004 and CTA-5004-B): an RFC 8941 dictionary of at most
/// `maxKeys` keys in at most `maxBytes` bytes, as sent in the `CMCD` query parameter (after URL
/// decoding), in each of the four `CMCD-*` headers and in each line of an event report. Strings are
/// quoted (`\"` and `\\` escapes), tokens bare, a key alone is `true`, `?0`/`?1` are booleans, and
/// CMCD v2 sends several numbers as inner lists annotated by object type (`br=(3000;v 128;a)`).
///
/// Anything else is refused whole: a player's data is either read as it meant it or not at all.
public enum CMCDParser {
    public static let maxBytes = 1024
    public static let maxKeys = 32

    public static func parse(_ text: some StringProtocol) -> Result<CMCDReport, CMCDError> {
        let count = text.utf8.count
        guard count <= maxBytes else { return .failure(.tooLong(bytes: count)) }
        var scanner = Scanner(bytes: Array(text.utf8))
        do {
            return .success(try report(from: scanner.dictionary()))
        } catch {
            return .failure(error)
        }
    }

    /// The CMCD of one request: the `CMCD` query parameter and the four headers, merged. Nil when
    /// the request carries none.
    public static func parse(
        query: String?, request: String? = nil, object: String? = nil, status: String? = nil, session: String? = nil
    ) -> Result<CMCDReport, CMCDError>? {
        var report: CMCDReport?
        for text in [query, request, object, status, session] {
            guard let text else { continue }
            switch parse(text) {
            case .success(let parsed):
                if report == nil { report = parsed } else { report?.merge(parsed) }
            case .failure(let error):
                return .failure(error)
            }
        }
        return report.map { .success($0) }
    }

    // MARK: Typed keys

    private static func report(from members: [(key: String, value: Value)]) throws(CMCDError) -> CMCDReport {
        var report = CMCDReport()
        for (key, value) in members {
            switch key {
            case "sid": report.sessionID = try string(value, key, maxLength: 64)
            case "cid": report.contentID = try string(value, key, maxLength: 128)
            case "su": report.startup = try flag(value, key)
            case "bs": report.bufferStarvation = try flag(value, key)
            case "bl": report.bufferLength = try amount(value, key)
            case "br": report.bitrate = try amount(value, key)
            case "mtp": report.throughput = try amount(value, key)
            case "bsd": report.starvationDuration = try amount(value, key, largest: true)
            case "dl": report.deadline = try integer(value, key)
            case "ltc": report.liveLatency = try integer(value, key)
            case "msd": report.startDelay = try integer(value, key)
            case "v": report.version = try integer(value, key)
            case "ts": report.timestamp = Int64(try integer(value, key))
            case "ot": report.objectType = try token(value, key)
            case "sf": report.streamingFormat = try token(value, key)
            case "st": report.streamType = try token(value, key)
            case "sta": report.state = try token(value, key)
            case "e": report.event = try token(value, key)
            case "pr":
                switch value {
                case .item(.integer(let number), _) where number >= 0: report.playbackRate = Double(number)
                case .item(.decimal(let number), _) where number >= 0: report.playbackRate = number
                default: throw .invalidValue(key: key, expected: "a non-negative number")
                }
            default: continue
            }
        }
        return report
    }

    private static func string(_ value: Value, _ key: String, maxLength: Int) throws(CMCDError) -> String {
        guard case .item(.string(let text), _) = value, text.utf8.count <= maxLength else {
            throw .invalidValue(key: key, expected: "a quoted string of at most \(maxLength) characters")
        }
        return text
    }

    private static func flag(_ value: Value, _ key: String) throws(CMCDError) -> Bool {
        guard case .item(.boolean(let flag), _) = value else {
            throw .invalidValue(key: key, expected: "a boolean (the key alone, or ?0/?1)")
        }
        return flag
    }

    private static func integer(_ value: Value, _ key: String) throws(CMCDError) -> Int {
        guard case .item(.integer(let number), _) = value, number >= 0 else {
            throw .invalidValue(key: key, expected: "a non-negative integer")
        }
        return Int(number)
    }

    private static func token(_ value: Value, _ key: String) throws(CMCDError) -> String {
        guard case .item(.token(let token), _) = value else { throw .invalidValue(key: key, expected: "a token") }
        return token
    }

    /// A number, or (v2) an inner list of numbers each annotated by object type: the video one
    /// (`;v` or `;av`), else the first; with `largest`, the largest. Nil for an empty list.
    private static func amount(_ value: Value, _ key: String, largest: Bool = false) throws(CMCDError) -> Int? {
        switch value {
        case .item:
            return try integer(value, key)
        case .list(let items, _):
            var numbers: [(number: Int, video: Bool)] = []
            for item in items {
                guard case .integer(let number) = item.value, number >= 0 else {
                    throw .invalidValue(key: key, expected: "a non-negative integer or a list of them")
                }
                numbers.append((Int(number), item.parameters.contains("v") || item.parameters.contains("av")))
            }
            if largest { return numbers.map(\.number).max() }
            return (numbers.first(where: \.video) ?? numbers.first)?.number
        }
    }

    // MARK: RFC 8941

    enum BareItem: Equatable {
        case integer(Int64)
        case decimal(Double)
        case string(String)
        case token(String)
        case boolean(Bool)
        case bytes
    }

    struct Item: Equatable {
        var value: BareItem
        /// The keys of its parameters (CMCD annotates object types as `;v`, `;a`).
        var parameters: [String]
    }

    enum Value: Equatable {
        case item(BareItem, parameters: [String])
        case list([Item], parameters: [String])
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        private func fail(_ expected: String) -> CMCDError { .syntax(offset: index, expected: expected) }

        mutating func dictionary() throws(CMCDError) -> [(key: String, value: Value)] {
            var members: [(key: String, value: Value)] = []
            skip(tabs: false)
            guard peek != nil else { return members }
            while true {
                let key = try key()
                let value: Value
                if peek == UInt8(ascii: "=") {
                    index += 1
                    value = try memberValue()
                } else {
                    value = .item(.boolean(true), parameters: try parameters())
                }
                members.append((key, value))
                guard members.count <= CMCDParser.maxKeys else { throw .tooManyKeys }
                skip(tabs: true)
                guard let next = peek else { return members }
                guard next == UInt8(ascii: ",") else { throw fail("a comma before the next key") }
                index += 1
                skip(tabs: true)
                guard peek != nil else { throw fail("a key after the comma") }
            }
        }

        private mutating func skip(tabs: Bool) {
            while let byte = peek, byte == 0x20 || (tabs && byte == 0x09) { index += 1 }
        }

        private mutating func key() throws(CMCDError) -> String {
            let start = index
            guard let first = peek, Self.isLower(first) || first == UInt8(ascii: "*") else {
                throw fail("a key (lowercase letters, digits, _ - . *)")
            }
            index += 1
            while let byte = peek, Self.isLower(byte) || Self.isDigit(byte) || Self.keyPunctuation.contains(byte) { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        private mutating func memberValue() throws(CMCDError) -> Value {
            guard peek == UInt8(ascii: "(") else {
                let item = try bareItem()
                return .item(item, parameters: try parameters())
            }
            index += 1
            var items: [Item] = []
            while true {
                skip(tabs: false)
                if peek == UInt8(ascii: ")") {
                    index += 1
                    return .list(items, parameters: try parameters())
                }
                let value = try bareItem()
                items.append(Item(value: value, parameters: try parameters()))
                guard peek == 0x20 || peek == UInt8(ascii: ")") else { throw fail("a space or ) in the inner list") }
            }
        }

        private mutating func parameters() throws(CMCDError) -> [String] {
            var keys: [String] = []
            while peek == UInt8(ascii: ";") {
                index += 1
                skip(tabs: false)
                keys.append(try key())
                if peek == UInt8(ascii: "=") {
                    index += 1
                    _ = try bareItem()
                }
            }
            return keys
        }

        private mutating func bareItem() throws(CMCDError) -> BareItem {
            guard let first = peek else { throw fail("a value") }
            switch first {
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: "?"):
                index += 1
                switch peek {
                case UInt8(ascii: "0"): index += 1; return .boolean(false)
                case UInt8(ascii: "1"): index += 1; return .boolean(true)
                default: throw fail("?0 or ?1")
                }
            case UInt8(ascii: ":"):
                index += 1
                while let byte = peek, Self.isBase64(byte) { index += 1 }
                guard peek == UInt8(ascii: ":") else { throw fail("the : that ends a byte sequence") }
                index += 1
                return .bytes
            case _ where Self.isAlpha(first) || first == UInt8(ascii: "*"):
                let start = index
                index += 1
                while let byte = peek, Self.isTokenCharacter(byte) { index += 1 }
                return .token(String(decoding: bytes[start..<index], as: UTF8.self))
            default:
                throw fail("a number, a quoted string, a token or a boolean")
            }
        }

        /// An integer of at most 15 digits, or a decimal of at most 12 digits and 1 to 3 decimals.
        private mutating func number() throws(CMCDError) -> BareItem {
            var negative = false
            if peek == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            var integer: Int64 = 0
            var digits = 0
            while let byte = peek, Self.isDigit(byte) {
                integer = integer * 10 + Int64(byte - UInt8(ascii: "0"))
                digits += 1
                index += 1
                guard digits <= 15 else { throw fail("at most 15 digits") }
            }
            guard digits > 0 else { throw fail("a digit") }
            guard peek == UInt8(ascii: ".") else { return .integer(negative ? -integer : integer) }
            guard digits <= 12 else { throw fail("at most 12 digits before the decimal point") }
            index += 1
            var fraction = 0.0
            var scale = 1.0
            var decimals = 0
            while let byte = peek, Self.isDigit(byte) {
                scale /= 10
                fraction += Double(byte - UInt8(ascii: "0")) * scale
                decimals += 1
                index += 1
                guard decimals <= 3 else { throw fail("at most 3 decimals") }
            }
            guard decimals > 0 else { throw fail("a digit after the decimal point") }
            let value = Double(integer) + fraction
            return .decimal(negative ? -value : value)
        }

        private mutating func string() throws(CMCDError) -> BareItem {
            index += 1
            var text: [UInt8] = []
            while true {
                guard let byte = peek else { throw fail("the closing quote") }
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return .string(String(decoding: text, as: UTF8.self))
                case UInt8(ascii: "\\"):
                    guard let escaped = peek, escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else {
                        throw fail("\\\" or \\\\ after a backslash")
                    }
                    index += 1
                    text.append(escaped)
                case 0x20...0x7E:
                    text.append(byte)
                default:
                    index -= 1
                    throw fail("a printable ASCII character in the string")
                }
            }
        }

        private static func isLower(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
        private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        private static func isAlpha(_ byte: UInt8) -> Bool { isLower(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) }
        private static let keyPunctuation: [UInt8] = Array("_-.*".utf8)
        private static let tokenPunctuation: [UInt8] = Array("!#$%&'*+-.^_`|~:/".utf8)
        private static func isTokenCharacter(_ byte: UInt8) -> Bool {
            isAlpha(byte) || isDigit(byte) || tokenPunctuation.contains(byte)
        }
        private static func isBase64(_ byte: UInt8) -> Bool {
            isAlpha(byte) || isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
        }
    }
}
