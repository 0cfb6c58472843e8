import Foundation
import Ingest
import Testing
import Transcode

@testable import Quality

/// The fold the projection and the audit share, without a database.
@Suite("Quality fold")
struct QualityFoldTests {
    static func started(_ session: String, channel: String = "c") -> QualityInput {
        var event = QualityInputsTests.started()
        event.sessionID = session
        event.channelID = channel
        return .started(event, at: Date(timeIntervalSinceReferenceDate: 0))
    }

    static func sampled(_ session: String, bitrate: Int = 6_100_000) -> QualityInput {
        .sampled(IngestStatsSampled(sessionID: session, channelID: "c", stats: QualityInputsTests.rtmp(bitrate: bitrate)))
    }

    static func ended(_ session: String) -> QualityInput {
        .ended(
            StreamEnded(
                sessionID: session, channelID: "c", reason: .encoderClosed, detail: nil, durationSeconds: 1, bytesReceived: 1, reconnects: 0
            ))
    }

    @Test func aSessionStartsOnceAndIsFoldedUntilItEnds() {
        var fold = QualityFold()
        guard case .opened(let opened) = fold.apply(Self.started("s")) else { Issue.record("not opened"); return }
        #expect(opened.sessionID == "s")
        guard case .none = fold.apply(Self.started("s")) else { Issue.record("a second StreamStarted reopened the session"); return }
        guard case .updated(let session, _) = fold.apply(Self.sampled("s")) else { Issue.record("sample not applied"); return }
        #expect(session.clock == 1, "the machine's clock advances by the sample's interval")
        guard case .closed(let id) = fold.apply(Self.ended("s")) else { Issue.record("not closed"); return }
        #expect(id == "s")
        guard case .none = fold.apply(Self.sampled("s")) else { Issue.record("an ended session took a sample"); return }
        guard case .none = fold.apply(Self.started("s")) else { Issue.record("an ended session started again"); return }
    }

    @Test func aSustainedBandwidthDropIsATransition() {
        var fold = QualityFold()
        _ = fold.apply(Self.started("s"))
        var transitions: [QualityTransition] = []
        for _ in 0..<30 {
            if case .updated(_, let more) = fold.apply(Self.sampled("s", bitrate: 1_000_000)) { transitions += more }
        }
        #expect(!transitions.isEmpty)
        #expect(transitions.first?.from == .high)
    }

    @Test func thresholdsReachTheChannelsLiveSessionsAndLaterOnes() {
        var fold = QualityFold()
        _ = fold.apply(Self.started("b"))
        _ = fold.apply(Self.started("a"))
        _ = fold.apply(Self.started("other", channel: "d"))
        var tuned = QualityThresholds.default
        tuned.stableSeconds = 30
        guard
            case .configured(let channel, let thresholds, let sessions) = fold.apply(
                .configured(QualitySettingsChanged(channelID: "c", thresholds: tuned)))
        else {
            Issue.record("not configured"); return
        }
        #expect(channel == "c" && thresholds == tuned)
        #expect(sessions.map(\.sessionID) == ["a", "b"], "only the channel's live sessions, in id order")
        #expect(
            fold.sessions["other"]?.machine
                == QualitySession(started: QualityInputsTests.started(), at: Date(), thresholds: .default).machine)
        guard case .opened(let later) = fold.apply(Self.started("later")) else { Issue.record("not opened"); return }
        #expect(later.machine == fold.sessions["a"]?.machine)
    }
}
