import CFFmpeg
import Foundation
import Media
import Testing

@testable import Transcode

/// What the ladder's tuning does to libx264: how many frames go in before the first packet comes out.
@Suite struct EncoderTuningTests {
    static func encoder(_ tuning: LadderTuning, threads: Int = 1) throws -> VideoEncoder {
        try VideoEncoder(
            VideoEncoder.Settings(
                width: 320, height: 180, timebase: .milliseconds, frameRate: 30, bitrate: 400_000, profile: "main", preset: "veryfast",
                threads: threads, tuning: tuning),
            label: "test")
    }

    static func frame(_ index: Int) throws -> Frame {
        let frame = try Frame()
        frame.pointer.pointee.width = 320
        frame.pointer.pointee.height = 180
        frame.pointer.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        try #require(av_frame_get_buffer(frame.pointer, 0) == 0)
        let f = frame.pointer.pointee
        let planes = [(f.data.0, f.linesize.0, 180), (f.data.1, f.linesize.1, 90), (f.data.2, f.linesize.2, 90)]
        for (plane, (base, stride, rows)) in planes.enumerated() {
            let base = try #require(base)
            // A moving gradient: every frame differs, so the encoder has real work.
            for offset in 0..<(Int(stride) * rows) { base[offset] = UInt8(truncatingIfNeeded: offset * (plane + 1) + index * 3) }
        }
        frame.pointer.pointee.pts = Int64(index) * 1000 / 30
        return frame
    }

    /// Frames sent until the encoder gave back its first packet.
    static func delay(_ tuning: LadderTuning, threads: Int = 1) throws -> Int {
        let encoder = try encoder(tuning, threads: threads)
        for index in 0..<60 {
            try encoder.send(try frame(index), forceIDR: index == 0)
            if try encoder.receive() != nil { return index + 1 }
        }
        return 60
    }

    @Test func lowLatencyReturnsEachFrameAtOnceAndQualityLooksAhead() throws {
        #expect(try Self.delay(.lowLatency) == 1)
        #expect(try Self.delay(.lowLatency, threads: 3) == 1, "sliced threads, not frame threads")
        #expect(try Self.delay(.quality) > 5, "the preset's look-ahead holds frames back")
    }

    @Test func storedLaddersWithoutATuningReadAsLowLatency() throws {
        var json = String(decoding: try JSONEncoder().encode(Ladder.default), as: UTF8.self)
        #expect(json.contains(#""tuning":"low-latency""#))
        json = json.replacingOccurrences(of: #","tuning":"low-latency""#, with: "")
        json = json.replacingOccurrences(of: #""tuning":"low-latency","#, with: "")
        #expect(!json.contains("tuning"))
        #expect(try JSONDecoder().decode(Ladder.self, from: Data(json.utf8)).tuning == .lowLatency)
        let quality = json.replacingOccurrences(of: #""preset""#, with: #""tuning":"quality","preset""#)
        #expect(try JSONDecoder().decode(Ladder.self, from: Data(quality.utf8)).tuning == .quality)
        let wrong = json.replacingOccurrences(of: #""preset""#, with: #""tuning":"fast","preset""#)
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(Ladder.self, from: Data(wrong.utf8)) }
    }
}
