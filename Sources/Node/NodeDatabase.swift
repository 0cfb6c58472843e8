import EventStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The event store a node or a command runs on: PostgreSQL at a URL, or the embedded cluster in
/// the data folder, started here when it is not running. As a service it closes the store (and
/// stops a cluster it started) when the group's shutdown reaches it, which is last.
public final class NodeDatabase: Service, CustomStringConvertible, Sendable {
    public let store: EventStore
    /// Set when this process started the embedded cluster and must stop it.
    public let cluster: EmbeddedPostgres?
    let logger: Logger

    public var description: String { "event log" }

    /// Opens the event store at `url`, or (nil) in the embedded cluster under `dataDirectory`.
    public static func open(
        url text: String?, dataDirectory: URL, registry: EventRegistry = .platform,
        options: EventStore.Options = EventStore.Options(), logger: Logger
    ) async throws -> NodeDatabase {
        var cluster: EmbeddedPostgres?
        let url: DatabaseURL
        if let text {
            url = try DatabaseURL(text)
        } else {
            let embedded = try EmbeddedPostgres(dataDirectory: dataDirectory, logger: logger)
            let started = try embedded.start()
            if started.startedHere { cluster = embedded }
            try await embedded.ensureDatabase(url: started.url, logger: logger)
            url = started.url
        }
        do {
            let store = try await EventStore.open(url: url, registry: registry, options: options, logger: logger)
            return NodeDatabase(store: store, cluster: cluster, logger: logger)
        } catch {
            cluster?.stop()
            throw error
        }
    }

    /// Flushes pending appends, closes the store, and stops the cluster if this process started it.
    /// Only the first call does anything.
    public func close() async {
        guard
            closed.withLock({ closed in
                defer { closed = true }; return !closed
            })
        else { return }
        await store.shutdown()
        cluster?.stop()
    }

    private let closed = Mutex(false)

    init(store: EventStore, cluster: EmbeddedPostgres?, logger: Logger) {
        self.store = store
        self.cluster = cluster
        self.logger = logger
    }

    /// Closes the store when the group's graceful shutdown reaches it, which is after every other
    /// part has stopped. When the group is cancelled instead (its shutdown ran out of time), the
    /// other parts may still be appending: it returns without closing, and whoever ran the group
    /// calls `close()` once the group has ended.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            logger.warning("the service group was cancelled; the event log closes once every part has ended")
            return
        }
        await close()
        logger.info("stopped the event log\(cluster != nil ? " and the embedded PostgreSQL" : "")")
    }
}
