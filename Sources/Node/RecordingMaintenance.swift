import EventStore
import Foundation
import Ingest
import Logging
import Packager

/// Every 10 s: finalizes recordings that no node has added to for a while (their node stopped
/// mid-stream: they end with what reached disk, and their session gets its
/// `StreamEnded(interrupted)`), and deletes recordings past retention.
struct RecordingMaintenance: Sendable {
    let recordings: RecordingCatalog
    let pipeline: LivePipeline
    let store: EventStore
    /// Finalized recordings older than this are deleted (nil: kept forever).
    let retention: TimeInterval?
    let logger: Logger

    /// Runs until cancelled.
    func run() async {
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: .seconds(10))
        }
    }

    func pass() async {
        do {
            let live = Set(pipeline.sessions.map { $0.session.id.uuidString.lowercased() })
            for recording in try await recordings.interrupted(quietFor: 15, excluding: live) {
                let ended = StreamEnded(
                    sessionID: recording.sessionID, channelID: recording.channelID, reason: .interrupted,
                    detail: "the node packaging it stopped without ending it; finalized with the segments that reached disk",
                    durationSeconds: 0, bytesReceived: 0, reconnects: 0)
                let stream = "session-\(recording.sessionID)"
                let history = try await store.readStream(stream)
                if !history.contains(where: { $0.eventType == StreamEnded.eventType }) {
                    _ = try await store.append(
                        to: stream, expectedVersion: .any,
                        events: [
                            try NewEvent(
                                ended, metadata: EventMetadata(actor: .system("packager")),
                                eventId: RecordingCatalog.derivedID("ended", recording.sessionID))
                        ])
                }
                try await recordings.finalizeInterrupted(recording)
                logger.info("finalized the interrupted recording of session \(recording.sessionID) (\(recording.channelName))")
            }
            if let retention {
                let deleted = try await recordings.deleteExpired(retention: retention)
                if deleted > 0 { logger.info("deleted \(deleted) recordings past retention") }
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("recording maintenance failed, retrying in 10 s: \(error)")
        }
    }
}
