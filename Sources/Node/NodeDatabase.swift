import EventStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The event store a node or a command runs on: PostgreSQL at a URL, or the embedded cluster in
/// the data folder, started here when it is not running. As a service it watches over an embedded
/// cluster it started (restarting its postmaster when it dies) and closes the store (and stops
/// that cluster) when the group's shutdown reaches it, which is last.
public final class NodeDatabase: Service, CustomStringConvertible, Sendable {
    public let store: EventStore
    /// Set when this process started the embedded cluster and must stop it.
    public let cluster: EmbeddedPostgres?
    let logger: Logger

    public var description: String { "event log" }

    /// Opens the event store at `url`, or (nil) in the embedded cluster under `dataDirectory`.
    /// `waitForDatabase`: a database that cannot be reached is waited for, with a line in the log
    /// at each try, instead of failing (`streamd serve`; commands fail at once).
    ///
    /// The store connects as the application's role, which cannot edit the log; migrations run as
    /// the schema's owner: in the embedded cluster its own two roles (`prepareRoles`), with a URL
    /// the `ownerURL` when given, else `url`'s role does both. `warnIfPrivileged`: say so in the
    /// log when the store's role could rewrite history.
    public static func open(
        url text: String?, ownerURL ownerText: String? = nil, dataDirectory: URL, registry: EventRegistry = .platform,
        options: EventStore.Options = EventStore.Options(), waitForDatabase: Bool = false, warnIfPrivileged: Bool = false,
        logger: Logger
    ) async throws -> NodeDatabase {
        var cluster: EmbeddedPostgres?
        var options = options
        let url: DatabaseURL
        if let text {
            url = try DatabaseURL(text)
            options.ownerURL = try ownerText.map { try DatabaseURL($0) }
        } else {
            guard ownerText == nil else {
                throw EventStoreError.database(
                    "an owner's URL needs a database URL beside it; the embedded cluster makes its own owner and application roles")
            }
            let embedded = try EmbeddedPostgres(dataDirectory: dataDirectory, logger: logger)
            let started = try embedded.start()
            if started.startedHere { cluster = embedded }
            do {
                let roles = try await embedded.prepareRoles(admin: started.url, logger: logger)
                options.ownerURL = roles.owner
                url = roles.application
            } catch {
                cluster?.stop()
                throw error
            }
        }
        var delay = Duration.seconds(1)
        var attempts = 0
        while true {
            do {
                let store = try await EventStore.open(url: url, registry: registry, options: options, logger: logger)
                if attempts > 0 { logger.notice("the database answered; starting", metadata: ["url": "\(url)"]) }
                if warnIfPrivileged, let role = try? await store.roleThatCanRewriteLog() {
                    logger.warning(
                        """
                        the database role \(role) can rewrite the event log (it may UPDATE events or disable their triggers); \
                        connect as an application role and give the owner as --database-owner-url (docs/event-log.md#database-roles)
                        """)
                }
                return NodeDatabase(store: store, cluster: cluster, logger: logger)
            } catch let error as EventStoreError {
                guard waitForDatabase, case .unavailable = error, !Task.isCancelled else {
                    cluster?.stop()
                    throw error
                }
                attempts += 1
                logger.warning(
                    "waiting for the database at \(url): \(error) (try \(attempts); next in \(delay); stop with Ctrl-C or SIGTERM)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            } catch {
                cluster?.stop()
                throw error
            }
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
        supervision.withLock { $0?.cancel() }
        await store.shutdown()
        cluster?.stop()
    }

    private let closed = Mutex(false)
    private let supervision = Mutex<Task<Void, Never>?>(nil)

    init(store: EventStore, cluster: EmbeddedPostgres?, logger: Logger) {
        self.store = store
        self.cluster = cluster
        self.logger = logger
    }

    /// Watches the embedded cluster, and closes the store when the group's graceful shutdown
    /// reaches it, which is after every other part has stopped. When the group is cancelled instead
    /// (its shutdown ran out of time), the other parts may still be appending: it returns without
    /// closing, and whoever ran the group calls `close()` once the group has ended.
    public func run() async throws {
        if let cluster {
            let (store, logger) = (store, logger)
            supervision.withLock { $0 = Task { await Self.supervise(cluster, store: store, logger: logger) } }
        }
        do {
            try await gracefulShutdown()
        } catch {
            supervision.withLock { $0?.cancel() }
            logger.warning("the service group was cancelled; the event log closes once every part has ended")
            return
        }
        await close()
        logger.info("stopped the event log\(cluster != nil ? " and the embedded PostgreSQL" : "")")
    }

    /// Restarts the embedded postmaster whenever it is gone, backing off while it will not start.
    /// Meanwhile the store spools what the platform records on its own.
    static func supervise(_ cluster: EmbeddedPostgres, store: EventStore, logger: Logger) async {
        var delay = Duration.seconds(1)
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard !Task.isCancelled, cluster.postmasterPID() == nil else { continue }
            let downSince = Date()
            let words = cluster.lastWords()
            let cause = "the embedded PostgreSQL's postmaster is gone" + (words.isEmpty ? "" : " (its log ends: \(words))")
            logger.error("\(cause); restarting it", metadata: ["cluster": "\(cluster.clusterDirectory.path)"])
            await store.noteOutageCause(cause)
            while !Task.isCancelled {
                let outcome = await onOwnThread { Result { try cluster.start(keepingPort: true) } }
                guard case .failure(let error) = outcome else {
                    logger.notice("restarted the embedded PostgreSQL", metadata: ["cluster": "\(cluster.clusterDirectory.path)"])
                    Task { await store.databaseRestarted(downSince: downSince, cause: cause) }
                    delay = .seconds(1)
                    break
                }
                logger.error("the embedded PostgreSQL did not restart: \(error); trying again in \(delay)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// `pg_ctl` waits for the server: on a thread of its own, not one of the few that run tasks.
    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}
