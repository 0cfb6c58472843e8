/// Why a playlist request's delivery directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) could not be
/// read. The gateway answers 400 with the description.
public enum BlockingRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    case notANumber(parameter: String, value: String)
    case negative(parameter: String, value: String)
    /// RFC 8216bis §6.2.5.2: `_HLS_part` needs `_HLS_msn`.
    case partWithoutMSN(part: String)
    case invalidSkip(value: String)
    case repeated(parameter: String)

    public var description: String {
        switch self {
        case let .notANumber(parameter, value):
            return "\(parameter)=\(value) is not a decimal integer; send digits only, e.g. \(parameter)=12"
        case let .negative(parameter, value):
            return "\(parameter)=\(value) is negative; media sequence numbers and part indexes start at 0"
        case .partWithoutMSN(let part):
            return "_HLS_part=\(part) was sent without _HLS_msn; name the segment too, e.g. _HLS_msn=12&_HLS_part=\(part)"
        case .invalidSkip(let value):
            return "_HLS_skip=\(value) is not understood; send _HLS_skip=YES or _HLS_skip=v2, or leave it out"
        case .repeated(let parameter):
            return "\(parameter) was sent more than once; send it once"
        }
    }
}
