/// The files of one rendition, named relative to its media playlist: `index.m3u8`, `init.mp4`,
/// segments `s{MSN}.m4s` and parts `s{MSN}.p{INDEX}.m4s`. Parts have URLs of their own; the store
/// serves them as byte ranges of their segment's file, so media bytes are written once.
public enum HLSResource: Sendable, Hashable {
    case playlist
    case initialization
    case segment(msn: Int)
    case part(msn: Int, index: Int)

    public var name: String {
        switch self {
        case .playlist: "index.m3u8"
        case .initialization: "init.mp4"
        case .segment(let msn): "s\(msn).m4s"
        case let .part(msn, index): "s\(msn).p\(index).m4s"
        }
    }

    /// Reads a name from a request path; nil for anything that is not exactly one of the forms
    /// above (leading zeros, signs, overlong numbers and stray characters included).
    public init?(name: some StringProtocol) {
        switch name {
        case "index.m3u8": self = .playlist; return
        case "init.mp4": self = .initialization; return
        default: break
        }
        guard name.hasPrefix("s"), name.hasSuffix(".m4s") else { return nil }
        let body = name.dropFirst().dropLast(4)
        let pieces = body.split(separator: ".", omittingEmptySubsequences: false)
        switch pieces.count {
        case 1:
            guard let msn = Self.number(pieces[0]) else { return nil }
            self = .segment(msn: msn)
        case 2:
            guard pieces[1].hasPrefix("p"), let msn = Self.number(pieces[0]),
                let index = Self.number(pieces[1].dropFirst())
            else { return nil }
            self = .part(msn: msn, index: index)
        default:
            return nil
        }
    }

    /// A canonical decimal: digits only, no leading zero, at most 18 digits (cannot overflow).
    private static func number(_ text: some StringProtocol) -> Int? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= 18, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard utf8.count == 1 || utf8.first != 0x30 else { return nil }
        return Int(String(text))
    }
}
