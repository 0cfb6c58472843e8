import EventStore
import Foundation
import Synchronization
import Testing
import Transcode

@testable import Node

@Suite struct QualityCausesTests {
    final class Control: QualityControl {
        let calls = Mutex<[String]>([])
        func setEnabled(_ enabled: Bool, rendition name: String) { calls.withLock { $0.append("\(name)=\(enabled)") } }
        func setAudioOnly(_ audioOnly: Bool) { calls.withLock { $0.append("audioOnly=\(audioOnly)") } }
    }

    static func stopped(_ name: String, _ reason: RenditionReason = .disabled) -> RenditionStopped {
        RenditionStopped(
            channel: "demo", rendition: name, kind: .video, width: 1280, height: 720, bitrate: 2_500_000, reason: reason,
            presentationTime: nil)
    }

    static func started(_ name: String) -> RenditionStarted {
        RenditionStarted(
            channel: "demo", rendition: name, kind: .video, codec: "avc1.64001f", width: 1280, height: 720, frameRate: 30,
            bitrate: 2_500_000, passthrough: false, reason: .enabled, presentationTime: nil)
    }

    @Test func eachRenditionNamesTheChangeThatLastMovedIt() {
        let causes = QualityCauses()
        let inner = Control()
        let control = causes.control(inner)
        let (first, second, third) = (
            EventCause(eventId: UUID(), correlationId: nil), EventCause(eventId: UUID(), correlationId: UUID()),
            EventCause(eventId: UUID(), correlationId: nil)
        )
        control.attributeChanges(to: first)
        control.setEnabled(false, rendition: "1080p")
        control.setEnabled(true, rendition: "720p")
        control.attributeChanges(to: second)
        control.setEnabled(false, rendition: "1080p")
        control.setEnabled(false, rendition: "720p")
        #expect(inner.calls.withLock { $0 }.count == 4, "every call reaches the transcoder")
        #expect(causes.cause(of: Self.stopped("1080p")) == first, "a call that changed nothing keeps the earlier cause")
        #expect(causes.cause(of: Self.stopped("720p")) == second)
        #expect(causes.cause(of: Self.stopped("720p", .overload)) == nil, "only the controller's own reasons")
        #expect(causes.cause(of: Self.stopped("480p")) == nil)

        control.attributeChanges(to: third)
        control.setAudioOnly(true)
        #expect(causes.cause(of: Self.stopped("480p")) == third, "audio only stops every rung")
        control.setEnabled(true, rendition: "720p")
        #expect(causes.cause(of: Self.started("720p")) == third)
    }
}
