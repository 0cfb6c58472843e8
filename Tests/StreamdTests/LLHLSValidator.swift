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
    var endList = false

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
            } else if let value = Self.value(line, "#EXT-X-SKIP:") {
                skipped = Self.attributes(value)["SKIPPED-SEGMENTS"].flatMap(Int.init)
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

    /// Every rule of a live LL-HLS media playlist; returns the broken ones.
    func liveProblems(otherRenditions: Set<String>) -> [String] {
        var problems: [String] = []
        func check(_ condition: Bool, _ text: @autoclosure () -> String) { if !condition { problems.append(text()) } }
        check((version ?? 0) >= 9, "EXT-X-VERSION \(version ?? 0) < 9 although the playlist offers delta updates")
        guard let targetDuration, let partTarget else { return ["missing EXT-X-TARGETDURATION or EXT-X-PART-INF"] }
        check(serverControl["CAN-BLOCK-RELOAD"] == "YES", "no CAN-BLOCK-RELOAD=YES")
        let holdBack = Double(serverControl["PART-HOLD-BACK"] ?? "") ?? 0
        check(holdBack >= 3 * partTarget - 1e-9, "PART-HOLD-BACK \(holdBack) < 3 × part target \(partTarget)")
        let skipUntil = Double(serverControl["CAN-SKIP-UNTIL"] ?? "") ?? 0
        check(skipUntil >= 6 * Double(targetDuration) - 1e-9, "CAN-SKIP-UNTIL \(skipUntil) < 6 × target duration")
        check(map != nil, "no EXT-X-MAP")
        check(segments.first?.programDateTime != nil || skipped != nil, "no EXT-X-PROGRAM-DATE-TIME on the first segment")
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
        }
        for part in segments.flatMap(\.parts) + trailingParts {
            // RFC 8216bis: no part lasts longer than the declared PART-TARGET (EXTINF rounding aside).
            check(
                part.duration > 0 && part.duration <= partTarget + 0.0005,
                "part \(part.uri) lasts \(part.duration) s for a part target of \(partTarget)")
        }
        let withParts = segments.filter { !$0.parts.isEmpty }
        check(withParts.count <= 4, "\(withParts.count) segments list parts; only the last few should")
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
        }
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
