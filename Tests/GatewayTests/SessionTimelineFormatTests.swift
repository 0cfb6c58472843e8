import Foundation
import Testing
import Transcode

@testable import Gateway

@Suite struct SessionTimelineFormatTests {
    @Test func figuresReadAsPeopleWriteThem() {
        #expect(SessionTimeline.duration(42) == "42 s")
        #expect(SessionTimeline.duration(95) == "1 min 35 s")
        #expect(SessionTimeline.duration(7_385) == "2 h 03 min 05 s")
        #expect(SessionTimeline.duration(.nan) == "?")
        #expect(SessionTimeline.bitrate(2_400_000) == "2.40 Mbps")
        #expect(SessionTimeline.bitrate(850_000) == "850 kbps")
        #expect(SessionTimeline.bytes(3_000_000) == "3.0 MB")
        #expect(SessionTimeline.bytes(512) == "512 B")
        #expect(SessionTimeline.number(30) == "30")
        #expect(SessionTimeline.number(29.97) == "30")
        #expect(SessionTimeline.number(0.15) == "0.2" || SessionTimeline.number(0.15) == "0.1")
        #expect(
            SessionTimeline.figures(QualityFigures(lossRate: 0.031, bandwidth: 4_200_000, rttMilliseconds: 35))
                == "loss 3.1 %, bandwidth 4.20 Mbps, rtt 35 ms")
        #expect(SessionTimeline.figures(QualityFigures()) == "no figures")
    }
}
