import NIOCore
import Testing

@testable import Ingest

/// The socket's low-water mark follows the stream's own bitrate: about one batch interval of it.
struct ReadPacingTests {
    /// 6 Mbit/s is 750,000 bytes a second; 40 ms of it is 30,000 bytes.
    static let sixMegabits = 750_000 / 4

    @Test func aSteadyStreamIsReadInPiecesOfOneInterval() {
        var pacing = ReadPacing(interval: .milliseconds(40), receiveBufferSize: 1 << 20)
        #expect(pacing.lowWatermark == 1)
        #expect(pacing.update(bytesRead: Self.sixMegabits, over: .milliseconds(250)) == 30_000)
        // Paced reads come in lumps; small wobbles of the average change nothing.
        #expect(pacing.update(bytesRead: Self.sixMegabits + 20_000, over: .milliseconds(250)) == nil)
        #expect(pacing.update(bytesRead: Self.sixMegabits - 25_000, over: .milliseconds(260)) == nil)
        #expect(pacing.lowWatermark == 30_000)
    }

    @Test func theMarkStaysWithinAQuarterOfTheReceiveBuffer() {
        var pacing = ReadPacing(interval: .milliseconds(40), receiveBufferSize: 131_072)
        // 50 Mbit/s would ask for 250,000 bytes.
        #expect(pacing.update(bytesRead: 6_250_000 / 4, over: .milliseconds(250)) == 32_768)
    }

    @Test func aSlowStreamIsNotPaced() {
        var pacing = ReadPacing(interval: .milliseconds(40), receiveBufferSize: 1 << 20)
        // 128 kbit/s audio: 640 bytes per interval, not worth a wait.
        #expect(pacing.update(bytesRead: 16_000 / 4, over: .milliseconds(250)) == nil)
        #expect(pacing.lowWatermark == 1)
    }

    @Test func aFallingBitrateLowersTheMarkAndSilenceTurnsItOff() {
        var pacing = ReadPacing(interval: .milliseconds(40), receiveBufferSize: 1 << 20)
        _ = pacing.update(bytesRead: Self.sixMegabits, over: .milliseconds(250))
        // The encoder drops to 1 Mbit/s: the four-window average falls below 70 % within two windows.
        var lowered: Int?
        for _ in 0..<4 {
            if let change = pacing.update(bytesRead: 125_000 / 4, over: .milliseconds(250)) { lowered = change }
        }
        #expect(lowered != nil && pacing.lowWatermark == 5_000)
        // Nothing read in a window: whatever is buffered must be read at once.
        #expect(pacing.update(bytesRead: 0, over: .milliseconds(250)) == 1)
        #expect(pacing.update(bytesRead: 0, over: .milliseconds(250)) == nil)
        // It comes back: paced again from the new rate alone.
        #expect(pacing.update(bytesRead: Self.sixMegabits, over: .milliseconds(250)) == 30_000)
    }

    @Test func aStallTurnsPacingOffAndTheRateIsLearnedAfresh() {
        var pacing = ReadPacing(interval: .milliseconds(40), receiveBufferSize: 1 << 20)
        #expect(pacing.stalled() == nil)
        _ = pacing.update(bytesRead: Self.sixMegabits * 4, over: .milliseconds(250))
        #expect(pacing.lowWatermark == 120_000)
        // The encoder stopped with less than a mark in the socket.
        #expect(pacing.stalled() == 1)
        #expect(pacing.lowWatermark == 1)
        #expect(pacing.stalled() == nil)
        // The 24 Mbit/s history is gone: the next window alone sets the mark.
        #expect(pacing.update(bytesRead: Self.sixMegabits, over: .milliseconds(250)) == 30_000)
    }

    @Test func readsAndTicksCloseWindowsOfAtLeastAQuarterSecond() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        func at(_ milliseconds: Int64) -> NIODeadline { start + .milliseconds(milliseconds) }
        var pacing = ReadPacing(interval: .milliseconds(40), receiveBufferSize: 1 << 20, now: start)
        // 6 Mbit/s in reads 40 ms apart: the window closes at the first read 250 ms in.
        for step in Int64(1)...6 { #expect(pacing.read(30_000, at: at(40 * step)) == nil) }
        let mark = pacing.read(30_000, at: at(280))
        #expect(mark.map { abs($0 - 30_000) <= 1 } == true, "\(String(describing: mark))")
        // A tick just after a read says nothing: the window is too short, and reads are flowing.
        #expect(pacing.tick(at: at(300)) == (nil, false))
        // The encoder stops with less than a mark sent: a tick a window after the last read turns
        // pacing off, and says bytes may still wait in the socket.
        #expect(pacing.tick(at: at(540)) == (1, true))
        #expect(pacing.lowWatermark == 1)
        // Off, a quiet tick is not a stall.
        #expect(pacing.tick(at: at(1_540)) == (nil, false))
    }

    @Test func noIntervalNoPacing() {
        var pacing = ReadPacing(interval: .zero, receiveBufferSize: 1 << 20)
        #expect(pacing.update(bytesRead: Self.sixMegabits, over: .milliseconds(250)) == nil)
        #expect(pacing.update(bytesRead: Self.sixMegabits, over: .zero) == nil)
    }
}
