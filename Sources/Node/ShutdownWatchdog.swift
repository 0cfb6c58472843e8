import Foundation
import Logging
import ServiceLifecycle

/// The last word on a stop that hangs: once graceful shutdown begins it gives the node `limit` to
/// end, then makes sure what the spool holds is on disk, stops an embedded cluster this process
/// started, and ends the process. Placed last among a
/// group's services, so it is the first to hear of the shutdown. Its thread is its own: a node
/// whose tasks are all stuck still gets here.
public struct ShutdownWatchdog: Service, CustomStringConvertible {
    public let description = "shutdown watchdog"
    let limit: Duration
    let database: NodeDatabase
    let logger: Logger

    public init(limit: Duration = .milliseconds(9_200), database: NodeDatabase, logger: Logger) {
        self.limit = limit
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let (limit, database, logger) = (limit, database, logger)
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            logger.critical(
                "streamd did not stop within \(limit) of the signal; the spool is on disk (\(database.store.spooledBytes) bytes) and the next start replays it; exiting now"
            )
            database.store.closeSpool(waitingAtMost: .milliseconds(200))
            // A cluster left running would be taken by the next start as someone else's, and
            // never stopped by it.
            database.cluster?.stopImmediately(seconds: 1)
            fflush(nil)
            _exit(0)
        }
        thread.start()
    }
}
