import EventStore
import Foundation
import Logging
import Synchronization

/// Stream keys in memory, kept current from the event log (issues, rotations and revocations,
/// whichever node or CLI wrote them), so that SRT's listen callback decides without a database
/// round trip. Until the first full read of the log has finished every key is refused as
/// `unavailable` (SRT 1503: the caller retries), never as unknown.
///
/// A revocation reaches the table as fast as the log notifies its subscribers (well under a
/// second); a caller accepted in that gap is ended by the platform's revocation watcher, which
/// kicks the channel's session on the same event.
public final class StreamKeyCache: PublishAuthorizer, ImmediatePublishAuthorizer {
    let store: EventStore
    let logger: Logger
    private let table = Mutex(StreamKeyTable())
    private let loaded = Atomic<Bool>(false)
    private let pageSize = 1_000

    public init(store: EventStore, logger: Logger = Logger(label: "streamd.ingest.keys")) {
        self.store = store
        self.logger = logger
    }

    public var isLoaded: Bool { loaded.load(ordering: .acquiring) }
    /// The log position the table reflects.
    public var position: Int64 { table.withLock { $0.position } }
    public var keyCount: Int { table.withLock { $0.count } }

    /// Reads the log, then follows it until the task is cancelled.
    public func run() async {
        await load()
        await follow()
    }

    /// Reads every key event in the log (retrying while the database is away), then marks the
    /// table loaded; returns early only when cancelled.
    public func load() async {
        var position: Int64 = 0
        var failures = 0
        while !Task.isCancelled {
            do {
                let page = try await store.read(after: position, limit: pageSize, filter: StreamKeyTable.filter)
                apply(page)
                position = page.last?.position ?? position
                failures = 0
                if page.count < pageSize { break }
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 { logger.warning("cannot read stream keys from the log yet, retrying: \(error)") }
                try? await Task.sleep(for: .milliseconds(Swift.min(1_000, 100 * failures)))
            }
        }
        guard !Task.isCancelled else { return }
        loaded.store(true, ordering: .releasing)
        logger.debug("stream key table loaded", metadata: ["keys": "\(keyCount)", "position": "\(position)"])
    }

    /// Follows the log from what `load` read until the task is cancelled.
    public func follow() async {
        for await event in store.subscribe(after: position, filter: StreamKeyTable.filter) {
            apply([event])
        }
    }

    /// Waits until the first read of the log has finished, or `timeout` passes; returns whether it has.
    public func waitUntilLoaded(timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isLoaded {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Waits until the table reflects the log up to `position` (tests, and callers that just wrote a key).
    public func waitUntil(_ position: Int64, timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while self.position < position {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    private func apply(_ events: [RecordedEvent]) {
        let registry = store.registry
        table.withLock { table in
            for event in events {
                do {
                    try table.apply(event, registry: registry)
                } catch {
                    DecodeFailures.report(event, error, consumer: "stream key table", consequence: "the key table skips it", logger: logger)
                }
            }
        }
    }

    public func authorizeNow(app: String, streamKey: String, remote: String) -> PublishAuthorization {
        guard !streamKey.isEmpty, streamKey.utf8.count <= 256 else { return .refused(.unknownKey) }
        guard isLoaded else { return .refused(.unavailable("the stream key table is still being read from the log")) }
        return PublishAuthorization(table.withLock { $0.check(streamKey) })
    }

    public func authorize(app: String, streamKey: String, remote: String) async -> PublishAuthorization {
        authorizeNow(app: app, streamKey: streamKey, remote: remote)
    }
}
