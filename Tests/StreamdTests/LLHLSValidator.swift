import Foundation

/// A test-side reader of LL-HLS media playlists that checks the rules of RFC 8216bis and
/// DESIGN.md §6 a player relies on. Independent of the server's renderer on purpose.
struct MediaPlaylist {
    struct Part: Equatable {
        var duration: Double
        var uri: String
        var independent: Bool
    }

    struct Segment {
        var msn: Int
        var duration: Double
        var uri: String
        var parts: [Part]
        var programDateTime: String?
        var discontinuity: Bool
    }

    var lines: [String]
    var version: Int?
    var targetDuration: Int?
    var partTarget: Double?
    var serverControl: [String: String] = [:]
    var mediaSequence = 0
    var map: String?
    var segments: [Segment] = []
    /// Parts after the last complete segment (the segment in progress).
    var trailingParts: [Part] = []
    var preloadHint: [String: String]?
    var renditionReports: [[String: String]] = []
    var skipped: Int?
    /// The EXT-X-SKIP tag's attributes, on a delta update.
    var skip: [String: String]?
    var discontinuitySequence = 0
    var endList = false

    var partHoldBack: Double? { serverControl["PART-HOLD-BACK"].flatMap(Double.init) }
    var canSkipUntil: Double? { serverControl["CAN-SKIP-UNTIL"].flatMap(Double.init) }

    init(_ text: String) throws {
        lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { String($0).trimmingCharacters(in: .whitespaces) }
        guard lines.first == "#EXTM3U" else { throw ValidationFailure("playlist does not start with #EXTM3U: \(text.prefix(80))") }
        var pendingParts: [Part] = []
        var pendingDuration: Double?
        var pendingDate: String?
        var pendingDiscontinuity = false
        var msn: Int?
        for line in lines.dropFirst() {
            if let value = Self.value(line, "#EXT-X-VERSION:") {
                version = Int(value)
            } else if let value = Self.value(line, "#EXT-X-TARGETDURATION:") {
                targetDuration = Int(value)
            } else if let value = Self.value(line, "#EXT-X-PART-INF:") {
                partTarget = Self.attributes(value)["PART-TARGET"].flatMap(Double.init)
            } else if let value = Self.value(line, "#EXT-X-SERVER-CONTROL:") {
                serverControl = Self.attributes(value)
            } else if let value = Self.value(line, "#EXT-X-MEDIA-SEQUENCE:") {
                mediaSequence = Int(value) ?? -1
            } else if let value = Self.value(line, "#EXT-X-MAP:") {
                map = Self.attributes(value)["URI"]
            } else if let value = Self.value(line, "#EXT-X-DISCONTINUITY-SEQUENCE:") {
                discontinuitySequence = Int(value) ?? -1
            } else if let value = Self.value(line, "#EXT-X-SKIP:") {
                skip = Self.attributes(value)
                skipped = skip?["SKIPPED-SEGMENTS"].flatMap(Int.init) ?? -1
            } else if let value = Self.value(line, "#EXT-X-PROGRAM-DATE-TIME:") {
                pendingDate = value
            } else if line == "#EXT-X-DISCONTINUITY" {
                pendingDiscontinuity = true
            } else if let value = Self.value(line, "#EXT-X-PART:") {
                let a = Self.attributes(value)
                pendingParts.append(
                    Part(duration: Double(a["DURATION"] ?? "") ?? -1, uri: a["URI"] ?? "", independent: a["INDEPENDENT"] == "YES"))
            } else if let value = Self.value(line, "#EXTINF:") {
                pendingDuration = Double(value.split(separator: ",").first ?? "") ?? -1
            } else if let value = Self.value(line, "#EXT-X-PRELOAD-HINT:") {
                preloadHint = Self.attributes(value)
            } else if let value = Self.value(line, "#EXT-X-RENDITION-REPORT:") {
                renditionReports.append(Self.attributes(value))
            } else if line == "#EXT-X-ENDLIST" {
                endList = true
            } else if !line.hasPrefix("#") {
                let number = msn ?? (mediaSequence + (skipped ?? 0))
                segments.append(
                    Segment(
                        msn: number, duration: pendingDuration ?? -1, uri: line, parts: pendingParts, programDateTime: pendingDate,
                        discontinuity: pendingDiscontinuity))
                msn = number + 1
                pendingParts = []
                pendingDuration = nil
                pendingDate = nil
                pendingDiscontinuity = false
            }
        }
        trailingParts = pendingParts
    }

    var lastMSN: Int {
        trailingParts.isEmpty ? (segments.last?.msn ?? mediaSequence - 1) : (segments.last.map { $0.msn + 1 } ?? mediaSequence)
    }
    var lastPart: Int? { trailingParts.isEmpty ? (segments.last.map { $0.parts.count - 1 }) : trailingParts.count - 1 }

    /// The lowest EXT-X-VERSION the tags in use need (RFC 8216bis §8): EXT-X-MAP without
    /// I-frames-only needs 6, EXT-X-SKIP 9, and an EXT-X-SKIP that also replaces date ranges
    /// (RECENTLY-REMOVED-DATERANGES, the answer to `_HLS_skip=v2`) 10.
    var requiredVersion: Int {
        if skip?["RECENTLY-REMOVED-DATERANGES"] != nil { return 10 }
        if skip != nil { return 9 }
        return map != nil ? 6 : 1
    }

    /// Seconds from the start of complete segment `msn` (listed in this playlist) to the end of the
    /// newest complete segment.
    func secondsFromEnd(of msn: Int) -> Double? {
        guard let index = segments.firstIndex(where: { $0.msn == msn }) else { return nil }
        return segments[index...].reduce(0) { $0 + $1.duration }
    }

    /// Every rule of a live LL-HLS media playlist; returns the broken ones.
    func liveProblems(otherRenditions: Set<String>) -> [String] {
        var problems: [String] = []
        func check(_ condition: Bool, _ text: @autoclosure () -> String) { if !condition { problems.append(text()) } }
        check((version ?? 1) >= requiredVersion, "EXT-X-VERSION \(version ?? 1) < \(requiredVersion), which the tags in use need")
        // streamd's own rule (MediaPlaylistRenderer): every live reload may be merged with a delta,
        // so the full playlist declares 9 too.
        check((version ?? 0) >= 9, "EXT-X-VERSION \(version ?? 0) < 9 although the playlist offers delta updates")
        guard let targetDuration, let partTarget else { return ["missing EXT-X-TARGETDURATION or EXT-X-PART-INF"] }
        check(partTarget > 0, "PART-TARGET \(partTarget) is not positive")
        check(serverControl["CAN-BLOCK-RELOAD"] == "YES", "no CAN-BLOCK-RELOAD=YES")
        // RFC 8216bis §4.4.3.8: at least 2 × PART-TARGET; streamd promises the recommended 3 ×.
        let holdBack = partHoldBack ?? 0
        check(holdBack >= 3 * partTarget - 1e-9, "PART-HOLD-BACK \(holdBack) < 3 × part target \(partTarget)")
        if let plainHoldBack = serverControl["HOLD-BACK"].flatMap(Double.init) {
            check(plainHoldBack >= 3 * Double(targetDuration) - 1e-9, "HOLD-BACK \(plainHoldBack) < 3 × target duration")
        }
        let skipUntil = canSkipUntil ?? 0
        check(skipUntil >= 6 * Double(targetDuration) - 1e-9, "CAN-SKIP-UNTIL \(skipUntil) < 6 × target duration")
        check(map != nil, "no EXT-X-MAP")
        check(segments.first?.programDateTime != nil || skipped != nil, "no EXT-X-PROGRAM-DATE-TIME on the first segment")
        if let skipped {
            check(skipped > 0, "EXT-X-SKIP with SKIPPED-SEGMENTS \(skip?["SKIPPED-SEGMENTS"] ?? "-"), not a positive count")
            check(!endList, "a delta update of an ended playlist (§6.2.5.1: _HLS_skip is ignored after EXT-X-ENDLIST)")
        }
        for segment in segments {
            check(
                segment.duration > 0 && segment.duration.rounded() <= Double(targetDuration),
                "segment \(segment.msn) lasts \(segment.duration) s, over the target duration \(targetDuration)")
            check(segment.uri == "s\(segment.msn).m4s", "segment \(segment.msn) has URI \(segment.uri)")
            if !segment.parts.isEmpty {
                let sum = segment.parts.reduce(0) { $0 + $1.duration }
                check(abs(sum - segment.duration) < 0.01, "segment \(segment.msn): parts sum to \(sum) s, EXTINF says \(segment.duration)")
                check(segment.parts.first?.independent == true, "segment \(segment.msn) does not start with an independent part")
            }
            for (index, part) in segment.parts.enumerated() {
                check(part.uri == "s\(segment.msn).p\(index).m4s", "part \(index) of segment \(segment.msn) has URI \(part.uri)")
            }
        }
        if let first = trailingParts.first {
            check(first.independent, "the segment in progress does not start with an independent part")
        }
        for (index, part) in trailingParts.enumerated() {
            check(part.uri == "s\(lastMSN).p\(index).m4s", "part \(index) of the segment in progress has URI \(part.uri)")
        }
        for part in segments.flatMap(\.parts) + trailingParts {
            // RFC 8216bis §4.4.4.9: no part lasts longer than PART-TARGET (EXTINF rounding aside).
            check(
                part.duration > 0 && part.duration <= partTarget + 0.0005,
                "part \(part.uri) lasts \(part.duration) s for a part target of \(partTarget)")
        }
        let withParts = segments.filter { !$0.parts.isEmpty }
        check(withParts.count <= 4, "\(withParts.count) segments list parts; only the last few should")
        // Parts are listed contiguously up to the live edge, and far enough back for a player
        // joining PART-HOLD-BACK from the end to start on a part.
        if let firstWithParts = segments.firstIndex(where: { !$0.parts.isEmpty }) {
            check(
                segments[firstWithParts...].allSatisfy { !$0.parts.isEmpty },
                "a segment after the first one listing parts lists none")
        }
        let listedPartSeconds = (segments.flatMap(\.parts) + trailingParts).reduce(0) { $0 + $1.duration }
        if !endList, segments.reduce(0, { $0 + $1.duration }) >= holdBack {
            check(listedPartSeconds >= holdBack - 1e-6, "parts cover \(listedPartSeconds) s, less than PART-HOLD-BACK \(holdBack)")
        }
        if let hint = preloadHint {
            check(hint["TYPE"] == "PART", "preload hint is not TYPE=PART")
            let expected = "s\(trailingParts.isEmpty ? lastMSN + 1 : lastMSN).p\(trailingParts.count).m4s"
            check(hint["URI"] == expected, "preload hint \(hint["URI"] ?? "-") is not the next part \(expected)")
        } else {
            check(endList, "no EXT-X-PRELOAD-HINT")
        }
        let reported = Set(renditionReports.compactMap { $0["URI"] })
        let wanted = Set(otherRenditions.map { "../\($0)/index.m3u8" })
        check(reported == wanted, "rendition reports \(reported.sorted()) instead of \(wanted.sorted())")
        for report in renditionReports {
            check(Int(report["LAST-MSN"] ?? "") != nil, "rendition report without LAST-MSN: \(report)")
            check(report["LAST-PART"] == nil || Int(report["LAST-PART"] ?? "") != nil, "rendition report with a bad LAST-PART: \(report)")
        }
        return problems
    }

    /// Checks this delta update (`_HLS_skip`) against `full`, the full playlist of the same moment
    /// (same newest part): RFC 8216bis §6.2.5.1 and §4.4.5.2. Returns the broken rules; nil when the
    /// two playlists are not of the same moment, so the caller fetches another pair.
    func deltaProblems(against full: MediaPlaylist) -> [String]? {
        guard lastMSN == full.lastMSN, lastPart == full.lastPart, full.skip == nil else { return nil }
        var problems: [String] = []
        func check(_ condition: Bool, _ text: @autoclosure () -> String) { if !condition { problems.append(text()) } }
        let skipped = self.skipped ?? 0
        check(mediaSequence == full.mediaSequence, "delta MEDIA-SEQUENCE \(mediaSequence) but the full playlist's is \(full.mediaSequence)")
        check(
            discontinuitySequence == full.discontinuitySequence,
            "delta DISCONTINUITY-SEQUENCE \(discontinuitySequence), full \(full.discontinuitySequence)")
        check((version ?? 1) >= requiredVersion, "delta EXT-X-VERSION \(version ?? 1) < \(requiredVersion) for its EXT-X-SKIP")
        check(
            targetDuration == full.targetDuration && partTarget == full.partTarget && serverControl == full.serverControl,
            "delta header differs from the full playlist's")
        check(map == full.map, "delta EXT-X-MAP \(map ?? "-") but the full playlist's is \(full.map ?? "-")")
        check(skipped <= full.segments.count, "delta skips \(skipped) segments of the \(full.segments.count) listed")
        // The skipped segments are the oldest ones, each wholly before the Skip Boundary:
        // CAN-SKIP-UNTIL seconds before the end of the newest complete segment (streamd's reading;
        // counting the parts of the segment in progress as well would only move the boundary later).
        let boundary = full.canSkipUntil ?? .infinity
        for segment in full.segments.prefix(max(0, skipped)) {
            let fromEnd = (full.secondsFromEnd(of: segment.msn) ?? 0) - segment.duration
            check(
                fromEnd >= boundary - 1e-6,
                "segment \(segment.msn) was skipped but ends \(fromEnd) s before the end, inside CAN-SKIP-UNTIL \(boundary)")
        }
        let kept = Array(full.segments.dropFirst(max(0, skipped)))
        check(
            segments.first?.msn == kept.first?.msn,
            "the delta's first segment is \(segments.first?.msn ?? -1), not \(kept.first?.msn ?? -1)")
        check(
            segments.map(\.uri) == kept.map(\.uri) && segments.map(\.duration) == kept.map(\.duration)
                && segments.map(\.parts) == kept.map(\.parts) && segments.map(\.discontinuity) == kept.map(\.discontinuity),
            "the delta's segments \(segments.map(\.uri)) differ from the full playlist's \(kept.map(\.uri))")
        check(trailingParts == full.trailingParts, "the delta's parts in progress differ from the full playlist's")
        check(preloadHint == full.preloadHint, "the delta's preload hint differs from the full playlist's")
        check(renditionReports.count == full.renditionReports.count, "the delta lists other rendition reports")
        return problems
    }

    static func value(_ line: String, _ tag: String) -> String? {
        line.hasPrefix(tag) ? String(line.dropFirst(tag.count)) : nil
    }

    /// An attribute list: `A=1,B="x,y",C=z`.
    static func attributes(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var key = ""
        var value = ""
        var inKey = true
        var quoted = false
        for character in text {
            if inKey {
                if character == "=" { inKey = false } else { key.append(character) }
            } else if character == "\"" {
                quoted.toggle()
            } else if character == ",", !quoted {
                result[key] = value
                key = ""
                value = ""
                inKey = true
            } else {
                value.append(character)
            }
        }
        if !key.isEmpty { result[key] = value }
        return result
    }
}

/// Follows the reloads of one rendition's media playlist through a session, as a player does, and
/// reports what a player cannot accept between reloads: PART-TARGET, PART-HOLD-BACK,
/// TARGETDURATION, CAN-SKIP-UNTIL or CAN-BLOCK-RELOAD changing (Apple's players stop for good when
/// PART-TARGET or PART-HOLD-BACK does), the media or discontinuity sequence going back, or a
/// segment or part changing once published (their URIs are immutable).
struct PlaylistSession {
    private(set) var reloads = 0
    private(set) var problems: [String] = []
    private var first: [String: String] = [:]
    private var mediaSequence = 0
    private var discontinuitySequence = 0
    private var newest: (msn: Int, part: Int) = (-1, -1)
    private var segments: [Int: (uri: String, duration: Double, discontinuity: Bool)] = [:]
    private var parts: [String: MediaPlaylist.Part] = [:]

    /// Records a reload; returns the problems it brought.
    @discardableResult
    mutating func observe(_ playlist: MediaPlaylist) -> [String] {
        var found: [String] = []
        reloads += 1
        let constants: [String: String] = [
            "EXT-X-TARGETDURATION": playlist.targetDuration.map(String.init) ?? "-",
            "PART-TARGET": playlist.partTarget.map { "\($0)" } ?? "-",
            "PART-HOLD-BACK": playlist.serverControl["PART-HOLD-BACK"] ?? "-",
            "CAN-SKIP-UNTIL": playlist.serverControl["CAN-SKIP-UNTIL"] ?? "-",
            "CAN-BLOCK-RELOAD": playlist.serverControl["CAN-BLOCK-RELOAD"] ?? "-",
        ]
        if first.isEmpty { first = constants }
        for (name, value) in constants.sorted(by: { $0.key < $1.key }) where first[name] != value {
            found.append("reload \(reloads): \(name) changed from \(first[name] ?? "-") to \(value)")
        }
        if playlist.mediaSequence < mediaSequence {
            found.append("reload \(reloads): MEDIA-SEQUENCE went back from \(mediaSequence) to \(playlist.mediaSequence)")
        }
        if playlist.discontinuitySequence < discontinuitySequence {
            found.append(
                "reload \(reloads): DISCONTINUITY-SEQUENCE went back from \(discontinuitySequence) to \(playlist.discontinuitySequence)")
        }
        let position = (playlist.lastMSN, playlist.lastPart ?? -1)
        if position < newest {
            found.append("reload \(reloads): the newest part went back from \(newest) to \(position)")
        }
        mediaSequence = max(mediaSequence, playlist.mediaSequence)
        discontinuitySequence = max(discontinuitySequence, playlist.discontinuitySequence)
        if position > newest { newest = position }
        for segment in playlist.segments {
            let seen = (segment.uri, segment.duration, segment.discontinuity)
            if let before = segments[segment.msn], before != seen {
                found.append("reload \(reloads): segment \(segment.msn) was \(before), now \(seen)")
            }
            segments[segment.msn] = seen
        }
        for part in playlist.segments.flatMap(\.parts) + playlist.trailingParts {
            if let before = parts[part.uri], before != part {
                found.append("reload \(reloads): part \(part.uri) was \(before), now \(part)")
            }
            parts[part.uri] = part
        }
        problems += found
        return found
    }
}

/// The multivariant playlist's variants and audio group.
struct MultivariantPlaylist {
    struct Variant {
        var attributes: [String: String]
        var uri: String
        var bandwidth: Int { Int(attributes["BANDWIDTH"] ?? "") ?? 0 }
    }

    var variants: [Variant] = []
    var media: [[String: String]] = []

    init(_ text: String) throws {
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.first == "#EXTM3U" else { throw ValidationFailure("multivariant playlist does not start with #EXTM3U") }
        var pending: [String: String]?
        for line in lines {
            if let value = MediaPlaylist.value(line, "#EXT-X-STREAM-INF:") {
                pending = MediaPlaylist.attributes(value)
            } else if let value = MediaPlaylist.value(line, "#EXT-X-MEDIA:") {
                media.append(MediaPlaylist.attributes(value))
            } else if !line.hasPrefix("#"), let attributes = pending {
                variants.append(Variant(attributes: attributes, uri: line))
                pending = nil
            }
        }
    }

    var renditionNames: [String] {
        (variants.map(\.uri) + media.compactMap { $0["URI"] }).map { String($0.split(separator: "/").first ?? "") }
    }

    func problems() -> [String] {
        var problems: [String] = []
        if variants.isEmpty { problems.append("no variants") }
        for variant in variants {
            for key in ["BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE"] where variant.attributes[key] == nil {
                problems.append("variant \(variant.uri) lacks \(key)")
            }
            if let codecs = variant.attributes["CODECS"], !(codecs.contains("avc1.") && codecs.contains("mp4a.40.")) {
                problems.append("variant \(variant.uri) CODECS \(codecs) is not avc1 + mp4a")
            }
        }
        let bandwidths = variants.map(\.bandwidth)
        if bandwidths != bandwidths.sorted() { problems.append("variants are not ordered by bandwidth: \(bandwidths)") }
        return problems
    }
}

struct ValidationFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reads a CMAF fragment's first sample flags (moof/traf: trun's first-sample or per-sample flags,
/// else tfhd's defaults) to tell whether a part starts with a sync sample, which is what
/// `INDEPENDENT=YES` must say (RFC 8216bis §4.4.4.9). Nil when the bytes are not a fragment it reads.
enum FragmentReader {
    static func startsWithSyncSample(_ bytes: [UInt8]) -> Bool? {
        guard let moof = box("moof", in: bytes[...]), let traf = box("traf", in: moof) else { return nil }
        var flags: UInt32?
        if let tfhd = box("tfhd", in: traf), tfhd.count >= 8 {
            let tfhdFlags = uint32(tfhd, at: 0) & 0xFF_FFFF
            var offset = 8
            for (bit, size) in [(0x1, 8), (0x2, 4), (0x8, 4), (0x10, 4)] where tfhdFlags & UInt32(bit) != 0 { offset += size }
            if tfhdFlags & 0x20 != 0, tfhd.count >= offset + 4 { flags = uint32(tfhd, at: offset) }
        }
        guard let trun = box("trun", in: traf), trun.count >= 8 else { return nil }
        let trunFlags = uint32(trun, at: 0) & 0xFF_FFFF
        var offset = 8
        if trunFlags & 0x1 != 0 { offset += 4 }
        if trunFlags & 0x4 != 0 {
            guard trun.count >= offset + 4 else { return nil }
            flags = uint32(trun, at: offset)
        } else if trunFlags & 0x400 != 0 {
            offset += (trunFlags & 0x100 != 0 ? 4 : 0) + (trunFlags & 0x200 != 0 ? 4 : 0)
            guard trun.count >= offset + 4 else { return nil }
            flags = uint32(trun, at: offset)
        }
        // sample_is_non_sync_sample is bit 16 of the sample flags.
        return flags.map { $0 & 0x1_0000 == 0 }
    }

    /// The payload of the first box of `type` among the boxes in `bytes` (a full box's payload
    /// starts with its version and flags).
    static func box(_ type: String, in bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var offset = bytes.startIndex
        while offset + 8 <= bytes.endIndex {
            let size = Int(uint32(bytes, at: offset - bytes.startIndex))
            guard size >= 8, offset + size <= bytes.endIndex else { return nil }
            if String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self) == type {
                return bytes[(offset + 8)..<(offset + size)]
            }
            offset += size
        }
        return nil
    }

    static func uint32(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt32 {
        let start = bytes.startIndex + offset
        return bytes[start..<(start + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
