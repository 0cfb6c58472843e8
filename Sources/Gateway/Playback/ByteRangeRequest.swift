import Foundation

/// A `Range: bytes=…` request header (RFC 9110 §14), single ranges only: players ask for one.
enum ByteRangeRequest: Equatable {
    case whole
    case range(ClosedRange<Int>)
    /// 416: the range lies outside the resource.
    case unsatisfiable
    /// Multiple or malformed ranges: RFC 9110 lets a server ignore them and send the whole.
    case ignored

    /// Resolves the header against a resource of `size` bytes.
    static func parse(_ header: String?, size: Int) -> ByteRangeRequest {
        guard let header else { return .whole }
        let text = header.trimmingPrefix(while: { $0 == " " })
        guard text.hasPrefix("bytes=") else { return .ignored }
        let spec = text.dropFirst(6)
        guard !spec.contains(",") else { return .ignored }
        let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2 else { return .ignored }
        let first = String(bounds[0]).trimmingCharacters(in: .whitespaces)
        let last = String(bounds[1]).trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // Suffix range: the last N bytes.
            guard let count = Int(last), count >= 0 else { return .ignored }
            guard count > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - count)...(size - 1))
        }
        guard let start = Int(first), start >= 0 else { return .ignored }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .range(start...(size - 1)) }
        guard let end = Int(last), end >= start else { return .ignored }
        return .range(start...min(end, size - 1))
    }
}
