import Foundation

@testable import Packager

/// Builders for playlist states used across the HLS tests.
enum HLSFixtures {
    /// 2019-02-14T02:13:28.106Z, the date of RFC 8216bis's low-latency example.
    static let exampleStart = Date(timeIntervalSince1970: 1_550_110_408.106)

    static func configuration(
        rendition: String = "720p",
        targetDuration: Int = 4,
        partTarget: Double = 1,
        dvrWindow: Double? = 3600,
        firstMediaSequence: Int = 0,
        start: Date = exampleStart
    ) throws -> MediaPlaylistConfiguration {
        try MediaPlaylistConfiguration(
            rendition: rendition,
            targetDuration: targetDuration,
            partTarget: partTarget,
            dvrWindow: dvrWindow,
            streamStart: start,
            firstMediaSequence: firstMediaSequence
        )
    }

    /// Adds `count` parts of `duration` to the segment in progress, part i independent when
    /// `i % independentEvery == 0`.
    static func addParts(_ state: inout MediaPlaylistState, count: Int, duration: Double, independentEvery: Int = 4) throws {
        for _ in 0..<count {
            let next = state.nextPart
            try state.partReady(
                .init(msn: next.msn, index: next.index, duration: duration, independent: next.index % independentEvery == 0))
        }
    }

    /// Adds a complete segment made of `parts` parts (none: a segment without parts).
    @discardableResult
    static func addSegment(
        _ state: inout MediaPlaylistState,
        parts: Int,
        partDuration: Double,
        discontinuity: Bool = false,
        date: Date? = nil
    ) throws -> [MediaPlaylistState.Segment] {
        if discontinuity { try state.discontinuity() }
        try addParts(&state, count: parts, duration: partDuration)
        let duration = parts > 0 ? Double(parts) * partDuration : partDuration
        return try state.segmentReady(.init(msn: state.nextMSN, duration: duration, programDateTime: date, byteSize: 1000))
    }

    /// The shape of RFC 8216bis's low-latency example: target 4 s, part target 0.33334 s, segments
    /// 264...272 of twelve parts each (4.00008 s), segment 273 in progress with three parts.
    static func rfcExample() throws -> MediaPlaylistState {
        var state = MediaPlaylistState(
            configuration: try configuration(targetDuration: 4, partTarget: 0.33334, dvrWindow: 36, firstMediaSequence: 264))
        for _ in 264...272 { try addSegment(&state, parts: 12, partDuration: 0.33334) }
        try addParts(&state, count: 3, duration: 0.33334)
        return state
    }

    /// Segments 10 and 11 complete with four parts each, segment 12 in progress with parts 0 and 1.
    static func blockingState(partTarget: Double = 1, ended: Bool = false) throws -> MediaPlaylistState {
        var state = MediaPlaylistState(configuration: try configuration(targetDuration: 4, partTarget: partTarget, firstMediaSequence: 10))
        try addSegment(&state, parts: 4, partDuration: partTarget)
        try addSegment(&state, parts: 4, partDuration: partTarget)
        try addParts(&state, count: 2, duration: partTarget)
        if ended { state.end() }
        return state
    }
}
