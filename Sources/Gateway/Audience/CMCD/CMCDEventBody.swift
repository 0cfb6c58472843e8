import Foundation

/// The body of a CMCD v2 event-mode report (`POST /v1/cmcd`): one report per line as
/// `text/cmcd` or `application/cmcd` (each line a CMCD dictionary, as in the `CMCD` query
/// parameter), or JSON (`application/json`: one object or an array of them, keyed by CMCD key,
/// with numbers, strings, booleans, or arrays of numbers where v2 sends an inner list).
///
/// Strict and bounded like `CMCDParser`: at most `maxBytes` in all and `maxReports` reports, each
/// within the parser's limits; one bad report refuses the whole body.
public enum CMCDEventBody {
    public static let maxBytes = 16 * 1024
    public static let maxReports = 64

    public enum Format: Sendable, Hashable {
        case lines
        case json

        /// From a `Content-Type`; nil when the type says neither (then the body is sniffed).
        public init?(contentType: String?) {
            guard let contentType else { return nil }
            let type = contentType.split(separator: ";", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            switch type {
            case "text/cmcd", "application/cmcd", "text/plain": self = .lines
            case "application/json", "text/json": self = .json
            default: return nil
            }
        }
    }

    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ body: [UInt8], format: Format?) -> Result<[CMCDReport], Failure> {
        guard body.count <= maxBytes else { return .failure(Failure(description: "the body is over \(maxBytes) bytes")) }
        let first = body.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        switch format ?? (first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? .json : .lines) {
        case .lines: return lines(body)
        case .json: return json(body)
        }
    }

    private static func lines(_ body: [UInt8]) -> Result<[CMCDReport], Failure> {
        var reports: [CMCDReport] = []
        for (number, line) in body.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.last == 0x0D ? line.dropLast() : line
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard reports.count < maxReports else {
                return .failure(Failure(description: "more than \(maxReports) reports in one body; send them in several"))
            }
            guard let text = String(validating: trimmed, as: UTF8.self) else {
                return .failure(Failure(description: "line \(number + 1): not UTF-8 text"))
            }
            switch CMCDParser.parse(text) {
            case .success(let report): reports.append(report)
            case .failure(let error): return .failure(Failure(description: "line \(number + 1): \(error)"))
            }
        }
        guard !reports.isEmpty else { return .failure(Failure(description: "the body holds no CMCD report")) }
        return .success(reports)
    }

    private static func json(_ body: [UInt8]) -> Result<[CMCDReport], Failure> {
        let objects: [[String: JSONValue]]
        do {
            let decoder = JSONDecoder()
            if let one = try? decoder.decode([String: JSONValue].self, from: Data(body)) {
                objects = [one]
            } else {
                objects = try decoder.decode([[String: JSONValue]].self, from: Data(body))
            }
        } catch {
            return .failure(Failure(description: "the body is not a JSON object or an array of objects with CMCD keys"))
        }
        guard !objects.isEmpty else { return .failure(Failure(description: "the body holds no CMCD report")) }
        guard objects.count <= maxReports else {
            return .failure(Failure(description: "more than \(maxReports) reports in one body; send them in several"))
        }
        var reports: [CMCDReport] = []
        for (number, object) in objects.enumerated() {
            // Each object goes through the same parser as a line, so both forms obey the same rules.
            guard let text = dictionary(object) else {
                return .failure(Failure(description: "report \(number + 1): a key or a value that CMCD cannot carry"))
            }
            switch CMCDParser.parse(text) {
            case .success(let report): reports.append(report)
            case .failure(let error): return .failure(Failure(description: "report \(number + 1): \(error)"))
            }
        }
        return .success(reports)
    }

    /// The CMCD dictionary a JSON report stands for; nil for a key or a string CMCD cannot carry.
    private static func dictionary(_ object: [String: JSONValue]) -> String? {
        var members: [String] = []
        for key in object.keys.sorted() {
            guard let value = object[key], isKey(key), value.isEncodable else { return nil }
            switch value {
            case .boolean(true): members.append(key)
            // JSON has no tokens: a string under a key whose values are tokens is one.
            case .string(let text) where tokenKeys.contains(key) && isToken(text): members.append("\(key)=\(text)")
            case .list(let items): members.append("\(key)=(\(items.map(item).joined(separator: " ")))")
            default: members.append("\(key)=\(item(value))")
            }
        }
        return members.joined(separator: ",")
    }

    private static let tokenKeys: Set<String> = ["ot", "sf", "st", "sta", "e"]

    private static func isToken(_ text: String) -> Bool {
        func alpha(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
        guard let first = text.utf8.first, alpha(first) || first == 0x2A else { return false }
        return text.utf8.allSatisfy { alpha($0) || ($0 >= 0x30 && $0 <= 0x39) || "!#$%&'*+-.^_`|~:/".utf8.contains($0) }
    }

    private static func isKey(_ key: String) -> Bool {
        guard let first = key.utf8.first, (first >= 0x61 && first <= 0x7A) || first == 0x2A else { return false }
        return key.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || "_-.*".utf8.contains($0) }
    }

    private static func item(_ value: JSONValue) -> String {
        switch value {
        case .integer(let number): return String(number)
        case .decimal(let number): return String(format: "%.3f", number)
        case .string(let text):
            return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .boolean(let flag): return flag ? "?1" : "?0"
        case .list: return "()"
        }
    }

    /// The JSON forms a CMCD value takes.
    enum JSONValue: Decodable, Equatable {
        case integer(Int64)
        case decimal(Double)
        case string(String)
        case boolean(Bool)
        case list([JSONValue])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .boolean(flag)
            } else if let number = try? container.decode(Int64.self) {
                self = .integer(number)
            } else if let number = try? container.decode(Double.self) {
                self = .decimal(number)
            } else if let text = try? container.decode(String.self) {
                self = .string(text)
            } else {
                let items = try container.decode([JSONValue].self)
                guard items.allSatisfy({ if case .list = $0 { false } else { true } }) else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "nested lists")
                }
                self = .list(items)
            }
        }

        /// Whether CMCD can carry it: strings of printable ASCII only.
        var isEncodable: Bool {
            switch self {
            case .string(let text): text.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
            case .list(let items): items.allSatisfy(\.isEncodable)
            default: true
            }
        }
    }
}
